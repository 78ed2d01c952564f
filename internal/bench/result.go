package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Kinds of run.
const (
	Raw     = "raw"
	Jetpool = "jetpool"
	// RawSubjectPerJob is the raw client of the latency figure publishing
	// each job to a subject of its own, as producer.Enqueue does for a job
	// without a batch (its batch is itself): the baseline that sets apart
	// what JetStream charges for the subjects from what jetpool adds.
	RawSubjectPerJob = "raw-subject-per-job"
)

// Figures a run measures.
const (
	FigurePublish  = "publish"
	FigureConsume  = "consume"
	FigureEndToEnd = "end_to_end"
	FigureLatency  = "latency"
	FigureCommands = "commands"
	// FigureEnqueueCommand is `jetpool enqueue -` alone, a process.
	FigureEnqueueCommand = "enqueue_command"
)

// Result is everything one bench measured. Throughputs are in jobs per
// second, latencies in milliseconds; a ratio is jetpool's figure over raw's
// (the median of the per-pair ratios when repeated).
type Result struct {
	Date        string `json:"date"`
	Go          string `json:"go"`
	CPUs        int    `json:"cpus"`
	Broker      string `json:"broker"` // "embedded" (file storage) or "external" (Options.URL)
	Server      string `json:"server_version"`
	Jobs        int    `json:"jobs"`
	Payload     int    `json:"payload_bytes"`
	Concurrency int    `json:"concurrency"`
	Repeat      int    `json:"repeat"`
	// LatencyRate is Options.LatencyRate: 0 when the latency figure ran at
	// half of jetpool's end to end rate.
	LatencyRate float64 `json:"latency_rate_option,omitempty"`

	// Publish: raw async publish against producer.EnqueueBatch.
	Publish Throughput `json:"publish"`
	// Consume: draining the jobs Publish queued, raw pull subscriptions
	// against a consumer.Pool with a no-op handler.
	Consume Throughput `json:"consume"`
	// EndToEnd: publishing while consuming, until every job is acked (raw)
	// or the batch's Wait returns (jetpool).
	EndToEnd Throughput `json:"end_to_end"`
	// Latency from publish to the start of a job's handling, all at
	// Options.LatencyRate, by default half of jetpool's end to end
	// throughput.
	Latency LatencyPair `json:"latency"`
	// EnqueueCommand: a `jetpool enqueue -` process into an empty queue,
	// against the raw async publisher run as a process on the same lines;
	// nil when not measured (no Options.Worker).
	EnqueueCommand *Throughput `json:"enqueue_command,omitempty"`
	// Commands: `jetpool enqueue -` and `jetpool batch wait` with a
	// `jetpool work` process running, against the raw clients run as
	// processes the same way; nil when not measured (no Options.Worker).
	Commands *Throughput `json:"commands_end_to_end,omitempty"`
	// CommandsInProcess: the same jetpool commands against the raw end to
	// end figure, whose clients share the bench's process.
	CommandsInProcess *Throughput `json:"commands_vs_in_process_raw,omitempty"`
	// WorkerRSS is the peak memory of a `jetpool work` process; nil when
	// not measured.
	WorkerRSS *RSS `json:"worker_rss,omitempty"`

	// Runs are the single measurements the figures are medians of.
	Runs []Sample `json:"runs"`
}

// Throughput is a raw and a jetpool figure in jobs per second.
type Throughput struct {
	Raw     float64 `json:"raw_jobs_per_sec"`
	Jetpool float64 `json:"jetpool_jobs_per_sec"`
	Ratio   float64 `json:"ratio"`
}

// Latency is the spread of the delay from publish to handling.
type Latency struct {
	Rate     float64 `json:"rate_per_sec"`     // the rate asked for
	Achieved float64 `json:"achieved_per_sec"` // the rate the senders kept
	Jobs     int     `json:"jobs"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	P999     float64 `json:"p999_ms"`
}

// LatencyPair is raw's and jetpool's latency; ratios are jetpool over raw.
// SubjectPerJob is raw's with a subject per job, and its ratios jetpool's
// over it.
type LatencyPair struct {
	Raw       Latency `json:"raw"`
	Jetpool   Latency `json:"jetpool"`
	P50Ratio  float64 `json:"p50_ratio"`
	P99Ratio  float64 `json:"p99_ratio"`
	P999Ratio float64 `json:"p999_ratio"`

	SubjectPerJob          Latency `json:"raw_subject_per_job"`
	SubjectPerJobP50Ratio  float64 `json:"p50_ratio_to_raw_subject_per_job"`
	SubjectPerJobP99Ratio  float64 `json:"p99_ratio_to_raw_subject_per_job"`
	SubjectPerJobP999Ratio float64 `json:"p999_ratio_to_raw_subject_per_job"`
}

// RSS is the peak resident memory (VmHWM) of a worker process that ran
// Jobs jobs of Payload bytes at Concurrency with a no-op handler.
type RSS struct {
	Concurrency int     `json:"concurrency"`
	Payload     int     `json:"payload_bytes"`
	Jobs        int     `json:"jobs"`
	PeakBytes   int64   `json:"peak_rss_bytes"`
	PeakMiB     float64 `json:"peak_rss_mib"`
	JobsPerSec  float64 `json:"jobs_per_sec"`
}

// Sample is one measurement.
type Sample struct {
	Figure     string   `json:"figure"`
	Kind       string   `json:"kind"`
	Rep        int      `json:"rep"`
	Jobs       int      `json:"jobs"`
	Seconds    float64  `json:"seconds"`
	JobsPerSec float64  `json:"jobs_per_sec"`
	Latency    *Latency `json:"latency,omitempty"`
}

// pair reduces the runs of a throughput figure to medians.
func (b *bench) pair(figure string) Throughput { return b.pairOf(figure, figure) }

// pairOf sets the jetpool runs of one figure beside the raw runs of
// another, repetition by repetition, and reduces them to medians.
func (b *bench) pairOf(rawFigure, jetpoolFigure string) Throughput {
	var raw, jp, ratios []float64
	for rep := 1; rep <= b.o.Repeat; rep++ {
		r, j := b.run(rawFigure, Raw, rep), b.run(jetpoolFigure, Jetpool, rep)
		raw, jp = append(raw, r.JobsPerSec), append(jp, j.JobsPerSec)
		ratios = append(ratios, ratio(j.JobsPerSec, r.JobsPerSec))
	}
	return Throughput{Raw: median(raw), Jetpool: median(jp), Ratio: median(ratios)}
}

func (b *bench) latencyPair() LatencyPair {
	var raw, jp, perJob []Latency
	var r50, r99, r999, s50, s99, s999 []float64
	for rep := 1; rep <= b.o.Repeat; rep++ {
		r, j := *b.run(FigureLatency, Raw, rep).Latency, *b.run(FigureLatency, Jetpool, rep).Latency
		s := *b.run(FigureLatency, RawSubjectPerJob, rep).Latency
		raw, jp, perJob = append(raw, r), append(jp, j), append(perJob, s)
		r50, r99, r999 = append(r50, ratio(j.P50, r.P50)), append(r99, ratio(j.P99, r.P99)), append(r999, ratio(j.P999, r.P999))
		s50, s99, s999 = append(s50, ratio(j.P50, s.P50)), append(s99, ratio(j.P99, s.P99)), append(s999, ratio(j.P999, s.P999))
	}
	return LatencyPair{Raw: medianLatency(raw), Jetpool: medianLatency(jp), P50Ratio: median(r50), P99Ratio: median(r99), P999Ratio: median(r999),
		SubjectPerJob: medianLatency(perJob), SubjectPerJobP50Ratio: median(s50), SubjectPerJobP99Ratio: median(s99), SubjectPerJobP999Ratio: median(s999)}
}

func (b *bench) run(figure, kind string, rep int) Sample {
	for _, r := range b.runs {
		if r.Figure == figure && r.Kind == kind && r.Rep == rep {
			return r
		}
	}
	panic("bench: no run " + figure + " " + kind + " " + strconv.Itoa(rep))
}

func medianLatency(ls []Latency) Latency {
	pick := func(f func(Latency) float64) float64 {
		v := make([]float64, len(ls))
		for i, l := range ls {
			v[i] = f(l)
		}
		return median(v)
	}
	return Latency{
		Rate:     pick(func(l Latency) float64 { return l.Rate }),
		Achieved: pick(func(l Latency) float64 { return l.Achieved }),
		Jobs:     int(pick(func(l Latency) float64 { return float64(l.Jobs) })),
		P50:      pick(func(l Latency) float64 { return l.P50 }),
		P99:      pick(func(l Latency) float64 { return l.P99 }),
		P999:     pick(func(l Latency) float64 { return l.P999 }),
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratio(jp, raw float64) float64 {
	if raw == 0 {
		return 0
	}
	return jp / raw
}

// WriteTable prints r as a table: each jetpool figure beside its raw
// baseline and their ratio.
func WriteTable(w io.Writer, r *Result) error {
	runs := "one run"
	if r.Repeat > 1 {
		runs = fmt.Sprintf("medians of %d runs", r.Repeat)
	}
	broker := "nats-server " + r.Server + " at the URL given"
	if r.Broker == "embedded" {
		broker = "embedded nats-server " + r.Server + ", file storage"
	}
	fmt.Fprintf(w, "jetpool bench: %s jobs of %d bytes, concurrency %d, %s\n%s; %d CPUs, %s\n\n",
		thousands(float64(r.Jobs)), r.Payload, r.Concurrency, runs, broker, r.CPUs, r.Go)
	type row struct{ name, raw, jp, ratio string }
	var rows []row
	tp := func(name string, t Throughput) {
		rows = append(rows, row{name, thousands(t.Raw), thousands(t.Jetpool), fmt.Sprintf("%.2f", t.Ratio)})
	}
	tp("publish, jobs/s", r.Publish)
	tp("consume and ack, jobs/s", r.Consume)
	tp("end to end, jobs/s", r.EndToEnd)
	if r.EnqueueCommand != nil {
		tp("enqueue - (a process, raw: a publisher process), jobs/s", *r.EnqueueCommand)
	}
	if r.Commands != nil {
		tp("commands end to end (enqueue -, work, batch wait), jobs/s", *r.Commands)
	}
	if r.CommandsInProcess != nil {
		tp("  the same commands beside raw end to end in process, jobs/s", *r.CommandsInProcess)
	}
	l := r.Latency
	pace := "half of jetpool end to end"
	if r.LatencyRate > 0 {
		pace = "--latency-rate"
	}
	rows = append(rows,
		row{"latency: rate kept (" + pace + "), jobs/s", thousands(l.Raw.Achieved), thousands(l.Jetpool.Achieved), ""},
		row{"latency p50, ms", ms(l.Raw.P50), ms(l.Jetpool.P50), fmt.Sprintf("%.2f", l.P50Ratio)},
		row{"latency p99, ms", ms(l.Raw.P99), ms(l.Jetpool.P99), fmt.Sprintf("%.2f", l.P99Ratio)},
		row{"latency p99.9, ms", ms(l.Raw.P999), ms(l.Jetpool.P999), fmt.Sprintf("%.2f", l.P999Ratio)},
		row{"  raw with a subject per job, as Enqueue publishes: p50, ms", ms(l.SubjectPerJob.P50), ms(l.Jetpool.P50), fmt.Sprintf("%.2f", l.SubjectPerJobP50Ratio)},
		row{"  raw with a subject per job: p99, ms", ms(l.SubjectPerJob.P99), ms(l.Jetpool.P99), fmt.Sprintf("%.2f", l.SubjectPerJobP99Ratio)},
		row{"  raw with a subject per job: p99.9, ms", ms(l.SubjectPerJob.P999), ms(l.Jetpool.P999), fmt.Sprintf("%.2f", l.SubjectPerJobP999Ratio)})
	if m := r.WorkerRSS; m != nil {
		rows = append(rows, row{fmt.Sprintf("worker peak RSS (%d workers, %d KiB jobs), MiB", m.Concurrency, m.Payload>>10), "", fmt.Sprintf("%.1f", m.PeakMiB), ""})
	}
	width := len("figure")
	for _, x := range rows {
		width = max(width, len(x.name))
	}
	// Names padded by hand read left to right; the numbers align right.
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\traw\tjetpool\tjetpool/raw\t\n", width, "figure")
	for _, x := range rows {
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t\n", width, x.name, x.raw, x.jp, x.ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	note := "\njetpool/raw: for throughput higher is better, for latency lower is better\n"
	if r.Repeat > 1 {
		note += "figures are medians of the runs; jetpool/raw is the median of each alternating pair's ratio,\n" +
			"which can differ from the ratio of the medians (--json has every run)\n"
	}
	_, err := io.WriteString(w, note)
	return err
}

func ms(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// thousands formats v rounded, with commas between thousands.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var out strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out.WriteByte(',')
		}
		out.WriteRune(c)
	}
	return out.String()
}
