package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/handlers"
	"github.com/jetpool/jetpool/metrics"
	"github.com/jetpool/jetpool/topology"
	"github.com/jetpool/jetpool/workers"
	"github.com/spf13/cobra"
)

// workCmd is `jetpool work`: its flags and its action.
type workCmd struct {
	a *app

	queueFlags                             []string // --queue, the old spelling of QUEUE
	forward, httpURL, builtin, metricsAddr string
	passEnv                                []string
	concurrency, maxAttempts               int
	jobTimeout, grace                      time.Duration
	exec, provision                        bool
}

func (a *app) workCommand() *cobra.Command {
	c := &workCmd{a: a}
	cmd := &cobra.Command{
		Use:   "work QUEUE[=N]... (--exec PROGRAM [ARGS...] | --http URL | --builtin SPEC)",
		Short: "Run a worker pool on one queue or several",
		Long: `Run a worker pool on a queue with one handler:

  --exec PROGRAM [ARGS...]  run the program once per job (everything after --exec
                            is its command line); payload on stdin; JETPOOL_JOB_ID,
                            JETPOOL_QUEUE, JETPOOL_BATCH, JETPOOL_ATTEMPT in its
                            environment. Exit 0: done (stdout is forwarded with
                            --forward, else logged at --log-level debug); 75:
                            retry later; 65: dead-letter now; any other: a
                            failed attempt. Killed at the job timeout.
  --http URL                POST the payload; 2xx done, 4xx (but 429) dead-letter
                            now, anything else retried.
  --builtin SPEC            noop, sleep=DURATION or fail=PROBABILITY.

The queues come before --exec, whose program takes the rest of the line. Give
several to serve them from this process, on one connection, with the same
handler (JETPOOL_QUEUE, Jetpool-Queue tell them apart); each queue has a pool
of its own. NAME=N runs N jobs of that queue at once; otherwise --concurrency,
then the config file's pools.NAME.concurrency, then 4. Job timeouts and
attempts come from the flags, then each queue's pool in the config file.

Stops gracefully on SIGINT or SIGTERM: running jobs finish within the grace
period, jobs fetched but not started go back to the queue. A second SIGINT
or SIGTERM stops at once: running jobs are cancelled (an --exec program's
whole process group is ended) and go back to the queue; the exit code is 130.

The worker never creates the streams or buckets: until "jetpool provision" (or
"jetpool broker") has created them it waits, logging what is missing. It
creates the queue's consumer if "jetpool provision QUEUE" did not. With
--provision it creates whatever is missing (replicas from the config file, 1
by default) and changes nothing that exists; leave it off in a cluster where
"jetpool provision" owns the topology.

  jetpool work resize=8 mail=2 --job-timeout 2m --exec ./handle.sh
  jetpool work hooks --http http://127.0.0.1:8000/jobs`,
		Args: cobra.ArbitraryArgs,
		RunE: c.run,
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // everything after --exec belongs to the program
	f.StringArrayVar(&c.queueFlags, "queue", nil, "queue to work on, NAME or NAME=CONCURRENCY")
	hideOld(f, "queue", "the queue as an argument: work QUEUE[=N]...")
	f.IntVar(&c.concurrency, "concurrency", 0, "jobs run at once per queue (default: config, then 4)")
	f.DurationVar(&c.jobTimeout, "job-timeout", 0, "how long one job may run before it is cancelled and counted as a failed attempt (default: config, then 1m)")
	oldSpelling(f, "timeout", "job-timeout")
	f.IntVar(&c.maxAttempts, "max-attempts", 0, "deliveries before a job is dead (default: config, then 5)")
	f.DurationVar(&c.grace, "grace", 0, "shutdown grace for running jobs (default 10s)")
	f.StringVar(&c.forward, "forward", "", "queue that receives each completed job's output")
	f.BoolVar(&c.exec, "exec", false, "run PROGRAM [ARGS...] (the rest of the command line) per job")
	f.StringArrayVar(&c.passEnv, "env", nil, "with --exec: pass this variable of the worker's environment to the program (repeatable); it gets only PATH, HOME and the job's JETPOOL_* variables otherwise")
	f.StringVar(&c.httpURL, "http", "", "POST each job to URL")
	f.StringVar(&c.builtin, "builtin", "", "built-in handler: noop, sleep=DURATION, fail=PROBABILITY")
	f.BoolVar(&c.provision, "provision", false, "create the streams, buckets and the queues' consumers when missing, instead of waiting for them")
	f.StringVar(&c.metricsAddr, "metrics", "", "serve Prometheus metrics, /healthz and /readyz on HOST:PORT")
	return cmd
}

func (c *workCmd) run(cmd *cobra.Command, args []string) error {
	a := c.a
	queueArgs, program, err := a.parseInterleaved(cmd, args, &c.exec)
	if err != nil {
		return err
	}
	if helpAsked(cmd) {
		return cmd.Help()
	}
	a.warnOldSpellings(cmd)
	specs, err := parseQueueSpecs(queueArgs, c.queueFlags)
	if err != nil {
		return usageError(err)
	}
	if c.forward != "" {
		if err := jetpool.ValidateQueue(c.forward); err != nil {
			return usageError(err)
		}
	}
	for name, n := range map[string]int{"concurrency": c.concurrency, "max-attempts": c.maxAttempts} {
		if cmd.Flags().Changed(name) && n < 1 {
			return usageError(fmt.Errorf("--%s %d must be at least 1", name, n))
		}
	}
	// Check the handler flags before connecting; each queue gets a handler
	// of its own below, as an exec handler names its queue's timeout.
	if _, err := a.pickHandler(c.exec, program, c.httpURL, c.builtin, c.forward, c.passEnv, 0); err != nil {
		return usageError(err)
	}
	s, err := a.connectWaiting(cmd.Context())
	if err != nil {
		return err
	}
	defer s.close()
	names := make([]string, len(specs))
	for i, q := range specs {
		names[i] = q.name
	}
	if c.provision {
		if err := createMissing(cmd.Context(), s, names...); err != nil {
			return err
		}
	}
	obs, err := a.observe(cmd.Context(), c.metricsAddr, s.nc, s.js, s.names)
	if err != nil {
		return err
	}
	defer obs.close()
	queues := make([]consumer.Options, len(specs))
	running := make([]*runningJobs, len(specs))
	for i, q := range specs {
		cfg := consumerConfig(s.cfg, q.name) // the config file's pool, flags over it
		cfg.Names, cfg.Logger, cfg.ShutdownGrace = s.names, a.log, c.grace
		cfg.Concurrency = pick(q.concurrency, pick(c.concurrency, cfg.Concurrency))
		cfg.Timeout = pickDur(c.jobTimeout, cfg.Timeout)
		cfg.MaxAttempts = pick(c.maxAttempts, cfg.MaxAttempts)
		h, err := a.pickHandler(c.exec, program, c.httpURL, c.builtin, c.forward, c.passEnv, cmp.Or(cfg.Timeout, consumer.DefaultTimeout))
		if err != nil {
			return usageError(err)
		}
		running[i] = newRunningJobs(h)
		cfg.Handler = jetpool.Chain(running[i], obs.middleware(q.name)...)
		queues[i] = cfg
	}
	group, err := workers.New(s.js, queues...)
	if err != nil {
		return exitWith(ExitUsage, err)
	}
	for i, q := range queues {
		name, r := q.Queue, running[i]
		obs.metrics.WatchPool(name, group.Pool(name).Stats)
		readiness := "consumer"
		if len(queues) > 1 {
			readiness += " " + name
		}
		obs.metrics.AddReadiness(readiness, metrics.ConsumerBound(s.js, s.names, name))
		pool := group.Pool(name)
		obs.announce(name, cmp.Or(q.Concurrency, consumer.DefaultConcurrency), r.count, pool.Held, r.jobs,
			func() uint64 { return pool.Stats().Completed })
	}
	total := func() int64 {
		var n int64
		for _, r := range running {
			n += int64(r.count())
		}
		return n
	}
	return a.runPool(cmd.Context(), group, total, cmp.Or(c.grace, consumer.DefaultShutdownGrace))
}

// queueSpec is one QUEUE argument: a queue and, when given, its
// concurrency.
type queueSpec struct {
	name        string
	concurrency int
}

// parseQueueSpecs reads the QUEUE arguments, then those given with the old
// spelling --queue, each NAME or NAME=CONCURRENCY, each queue once. Errors
// name the spelling used.
func parseQueueSpecs(args, flags []string) ([]queueSpec, error) {
	if len(args)+len(flags) == 0 {
		return nil, errors.New("give a queue: work QUEUE")
	}
	out := make([]queueSpec, 0, len(args)+len(flags))
	seen := make(map[string]bool, len(args)+len(flags))
	for i, spec := range append(append([]string{}, args...), flags...) {
		label := "queue"
		if i >= len(args) {
			label = "--queue"
		}
		name, n, hasN := strings.Cut(spec, "=")
		if err := jetpool.ValidateQueue(name); err != nil {
			return nil, fmt.Errorf("%s %q: %w", label, spec, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s %s given twice", label, name)
		}
		seen[name] = true
		q := queueSpec{name: name}
		if hasN {
			c, err := strconv.Atoi(n)
			if err != nil || c < 1 {
				return nil, fmt.Errorf("%s %s: concurrency %q must be a whole number, at least 1", label, spec, n)
			}
			q.concurrency = c
		}
		out = append(out, q)
	}
	return out, nil
}

// pickHandler builds the one handler the flags ask for; timeout is the
// queue's job timeout, which an exec handler names in its messages.
func (a *app) pickHandler(useExec bool, args []string, httpURL, builtin, forward string, passEnv []string, timeout time.Duration) (jetpool.Handler, error) {
	n := 0
	for _, set := range []bool{useExec, httpURL != "", builtin != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("give exactly one handler: --exec PROGRAM [ARGS...], --http URL or --builtin SPEC")
	}
	switch {
	case useExec:
		h, err := handlers.Exec(handlers.ExecOptions{Argv: args, Env: passEnv, Forward: forward, Timeout: timeout, Logger: a.log})
		if err != nil {
			return nil, fmt.Errorf("--exec: %w", err)
		}
		return h, nil
	case httpURL != "":
		if len(args) > 0 {
			return nil, errors.New("unexpected arguments after --http URL")
		}
		h, err := handlers.HTTP(handlers.HTTPOptions{URL: httpURL, Forward: forward})
		if err != nil {
			return nil, fmt.Errorf("--http: %w", err)
		}
		return h, nil
	default:
		if len(args) > 0 {
			return nil, errors.New("unexpected arguments after --builtin")
		}
		h, err := handlers.Builtin(builtin, forward)
		if err != nil {
			return nil, fmt.Errorf("--builtin: %w", err)
		}
		return h, nil
	}
}

// createMissing creates, for a command given --provision, the streams,
// buckets and queue consumer that do not exist, with the configured replicas;
// it changes nothing that exists.
func createMissing(ctx context.Context, s *session, queues ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	o := topology.Options{Names: s.names, Replicas: s.cfg.Replicas}
	if err := topology.CreateMissing(ctx, s.js, o, queues...); err != nil {
		return fmt.Errorf("--provision: %w", err)
	}
	return nil
}

func pick(flag, cfg int) int {
	if flag != 0 {
		return flag
	}
	return cfg
}

func pickDur(flag, cfg time.Duration) time.Duration {
	if flag != 0 {
		return flag
	}
	return cfg
}
