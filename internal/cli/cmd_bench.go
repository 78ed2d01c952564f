package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/jetpool/jetpool/internal/bench"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// benchCmd is `jetpool bench`.
type benchCmd struct {
	a   *app
	out output
	o   bench.Options
}

func (a *app) benchCommand() *cobra.Command {
	c := &benchCmd{a: a, out: a.indentedOut()}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure jetpool against raw JetStream on the same broker",
		Long: `Measure jetpool against a raw JetStream client on the same broker, with
the same jobs, payload and concurrency, raw and jetpool runs alternating:

  publish           raw async publish (a window of 4,000, Nats-Msg-Id set)
                    against producer.EnqueueBatch
  consume and ack   draining the queued jobs: 4 raw pull subscriptions pulling
                    1,000 and acking each, against a worker pool with a no-op
                    handler at --concurrency, until the stream is empty
  end to end        publishing while consuming: raw until the stream is empty,
                    jetpool until the batch's Wait returns
  latency           publish to the start of handling, p50/p99/p99.9: jobs
                    published one at a time (256 senders) at half of jetpool's
                    end to end rate (or --latency-rate), raw and jetpool
                    alike; a second raw baseline publishes each job to a
                    subject of its own, as producer.Enqueue does
  enqueue -         a "jetpool enqueue -" process into an empty queue, against
                    the raw async publisher run as a process on the same lines
  commands          "jetpool enqueue -" then "jetpool batch wait" with a
                    "jetpool work --builtin noop" process running, against
                    the raw clients run as processes the same way (and,
                    on a second line, against raw end to end in process)
  worker memory     peak RSS of a "jetpool work --builtin noop" process at
                    concurrency 256 with 4 KiB jobs (Linux)

Each jetpool figure is printed beside its raw baseline with their ratio.
Runs on an embedded broker with file storage in a temporary directory,
unless --nats-url is given; every stream and bucket it creates there has a
"jpbench-" prefix and is deleted when its step ends. A progress bar goes to
stderr; --json prints every figure as one JSON object on stdout.`,
		Args: cobra.NoArgs,
		RunE: c.run,
	}
	f := cmd.Flags()
	f.IntVar(&c.o.Jobs, "jobs", bench.DefaultJobs, "jobs per figure (N)")
	f.IntVar(&c.o.Payload, "payload", bench.DefaultPayload, "payload size in bytes")
	f.IntVar(&c.o.Concurrency, "concurrency", bench.DefaultConcurrency, "worker pool concurrency")
	f.IntVar(&c.o.Repeat, "repeat", 1, "run each raw and jetpool pair this many times and report medians")
	f.Float64Var(&c.o.LatencyRate, "latency-rate", 0, "jobs/s of the latency figure (default: half of jetpool's end to end rate)")
	c.out.jsonFlag(f, "print every figure as one JSON object")
	cmd.AddCommand(a.benchRawCommands()...)
	return cmd
}

func (c *benchCmd) run(cmd *cobra.Command, _ []string) error {
	a, o := c.a, c.o
	if err := o.Validate(); err != nil {
		return exitWith(ExitUsage, fmt.Errorf("bench: %w", err))
	}
	// The connection flags a worker process needs to reach the same
	// server; none for the embedded broker, whose URL the bench hands it.
	var connFlags []string
	if a.natsURL != "" {
		cfg, _, err := a.loadConfig()
		if err != nil {
			return err
		}
		if o.NATSOptions, err = cfg.NATSOptions(); err != nil {
			return exitWith(ExitUsage, err)
		}
		o.URL = cfg.NATSURL
		cmd.Root().PersistentFlags().Visit(func(f *pflag.Flag) {
			switch f.Name {
			case "prefix", "log-level", "log-format":
			default:
				connFlags = append(connFlags, "--"+f.Name+"="+f.Value.String())
			}
		})
	}
	o.Logger = a.log
	if !cmd.Root().PersistentFlags().Lookup("log-level").Changed {
		o.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	o.Worker = func(ctx context.Context, args []string) *exec.Cmd {
		exe, err := os.Executable()
		if err != nil {
			exe = os.Args[0]
		}
		return exec.CommandContext(ctx, exe, append(args, connFlags...)...)
	}
	bar := a.newBenchProgress()
	o.Progress = bar.update
	res, err := bench.Run(cmd.Context(), o)
	bar.close()
	if err != nil {
		return err
	}
	return c.out.print(res, func(w io.Writer) error { return bench.WriteTable(w, res) })
}

// benchProgress draws one bar per step on a terminal, and a line per step
// elsewhere.
type benchProgress struct {
	a        *app
	terminal bool
	bar      *progressbar.ProgressBar
	step     int
	failed   bool // a draw failed, and was logged
}

func (a *app) newBenchProgress() *benchProgress {
	return &benchProgress{a: a, terminal: isTerminal(a.stderr)}
}

func (p *benchProgress) update(s bench.Progress) {
	title := fmt.Sprintf("[%d/%d] %s", s.Step, s.Steps, s.Name)
	if !p.terminal {
		if s.Finished {
			_, err := fmt.Fprintf(p.a.stderr, "%s: %d jobs in %s\n", title, s.Done, s.Elapsed.Round(time.Millisecond))
			p.drawn(err)
		}
		return
	}
	if p.bar == nil || s.Step != p.step {
		p.close()
		p.step = s.Step
		p.bar = progressbar.NewOptions(s.Total,
			progressbar.OptionSetWriter(p.a.stderr),
			progressbar.OptionSetDescription(fmt.Sprintf("%-48s", title)),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("jobs"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(p.endLine),
		)
	}
	p.drawn(p.bar.Set(s.Done))
	if s.Finished {
		p.drawn(p.bar.Finish())
		p.bar = nil
	}
}

// close ends a bar left unfinished, as when a step failed.
func (p *benchProgress) close() {
	if p.bar != nil {
		p.drawn(p.bar.Exit())
		p.endLine()
		p.bar = nil
	}
}

// endLine ends the bar's line.
func (p *benchProgress) endLine() {
	_, err := fmt.Fprintln(p.a.stderr)
	p.drawn(err)
}

// drawn logs, once, that the progress could not be drawn: the bench goes
// on, and its figures still go to stdout.
func (p *benchProgress) drawn(err error) {
	if err != nil && !p.failed {
		p.failed = true
		p.a.log.Warn("bench progress not drawn", "error", err)
	}
}
