package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jetpool/jetpool/batch"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how a batch advances while batch wait waits: a bar with
// rate and ETA on a terminal, a log line a second elsewhere.
type progress struct {
	w        io.Writer
	log      *slog.Logger
	terminal bool

	bar   *progressbar.ProgressBar
	batch string
	shown counts
	last  time.Time // of the last log line

	failed bool // a draw failed, and was logged
}

func newProgress(w io.Writer, terminal bool, log *slog.Logger) *progress {
	return &progress{w: w, log: log, terminal: terminal}
}

// isTerminal reports whether stream, a reader or a writer, is a terminal.
// A mode check is not enough: /dev/null is a character device too.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// counts are the figures progress shows. A report counts completed jobs as
// those neither pending nor dead, so a pipeline stage that forwards several
// jobs per input makes completed fall and pending exceed expected; shown,
// completed and dead never fall, and the three add up to at most expected.
type counts struct{ expected, completed, dead, pending int }

func (c counts) next(r *batch.Report) counts {
	n := counts{expected: max(r.Expected, c.expected)}
	n.dead = min(max(r.Dead, c.dead), n.expected)
	n.completed = min(max(r.Completed, c.completed), n.expected-n.dead)
	n.pending = max(0, min(r.Pending, n.expected-n.completed-n.dead))
	return n
}

func (c counts) String() string {
	return fmt.Sprintf("completed %d, dead %d, pending %d of %d", c.completed, c.dead, c.pending, c.expected)
}

func (p *progress) update(r *batch.Report) {
	if r.Batch != p.batch {
		p.finish(nil) // a manager's next cycle: a new bar
		p.batch = r.Batch
	}
	p.shown = p.shown.next(r)
	if !p.terminal {
		if time.Since(p.last) >= time.Second {
			p.last = time.Now()
			p.log.Info("batch progress", "batch", r.Batch, "expected", p.shown.expected, "completed", p.shown.completed,
				"dead", p.shown.dead, "pending", p.shown.pending)
		}
		return
	}
	p.draw(r.Batch, r.Done)
}

// draw shows p.shown; the bar fills only when the batch is done, as an
// unsealed batch may still grow.
func (p *progress) draw(batch string, done bool) {
	c := p.shown
	if c.expected == 0 {
		return // nothing enqueued yet: no bar to show
	}
	desc := fmt.Sprintf("batch %s: %s", batch, c)
	if p.bar == nil {
		p.bar = progressbar.NewOptions(c.expected,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("jobs"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() {
				_, err := fmt.Fprintln(p.w)
				p.drawn(err)
			}),
		)
	} else if p.bar.GetMax() != c.expected {
		p.bar.ChangeMax(c.expected)
	}
	p.bar.Describe(desc)
	n := c.completed + c.dead
	if !done {
		n = min(n, c.expected-1)
	}
	p.drawn(p.bar.Set(n))
}

// drawn logs, once, that the bar could not be drawn; the wait goes on.
func (p *progress) drawn(err error) {
	if err != nil && !p.failed {
		p.failed = true
		p.log.Warn("progress bar not drawn", "error", err)
	}
}

// finish draws r, the last report (nil when there is none), and ends the
// bar's line; the next update starts a new bar.
func (p *progress) finish(r *batch.Report) {
	if p.terminal && r != nil && (p.batch == "" || r.Batch == p.batch) {
		p.shown = p.shown.next(r)
		p.draw(r.Batch, r.Done)
	}
	if p.bar != nil && !p.bar.IsFinished() {
		p.drawn(p.bar.Exit()) // keeps the bar as drawn and ends its line
	}
	p.bar, p.batch, p.shown = nil, "", counts{}
}
