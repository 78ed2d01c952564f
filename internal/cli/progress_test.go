package cli

import (
	"bytes"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/batch"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// screen replays what a terminal shows for out: '\r' returns to the line's
// start and later characters overwrite earlier ones.
func screen(out string) []string {
	lines := [][]rune{nil}
	col := 0
	for _, r := range out {
		cur := len(lines) - 1
		switch r {
		case '\r':
			col = 0
		case '\n':
			lines, col = append(lines, nil), 0
		default:
			if col < len(lines[cur]) {
				lines[cur][col] = r
			} else {
				lines[cur] = append(lines[cur], r)
			}
			col++
		}
	}
	var s []string
	for _, l := range lines {
		s = append(s, strings.TrimRight(string(l), " "))
	}
	return s
}

var shownCounts = regexp.MustCompile(`completed (\d+), dead (\d+), pending (\d+) of (\d+)`)

// The bar of batch wait on a terminal: every frame clears the one before,
// completed never goes backwards and pending never exceeds expected, even
// for a pipeline whose later stage holds more jobs than the batch; rate and
// ETA are shown, and the finished bar is the one line left.
func TestBatchProgressBarOnTerminal(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, true, slog.New(slog.DiscardHandler))
	reports := []batch.Report{
		{Batch: "b", Expected: 5, Pending: 5, Sealed: true},
		{Batch: "b", Expected: 5, Completed: 3, Pending: 2, Sealed: true},
		{Batch: "b", Expected: 5, Completed: -10, Pending: 15, Sealed: true}, // a fan-out stage
		{Batch: "b", Expected: 5, Completed: 2, Dead: 1, Pending: 2, Sealed: true},
	}
	for _, r := range reports {
		p.update(&r)
		time.Sleep(600 * time.Millisecond) // the library measures its rate over half seconds
	}
	p.finish(&batch.Report{Batch: "b", Expected: 5, Completed: 4, Dead: 1, Sealed: true, Done: true})

	frames := strings.Split(out.String(), "\r")
	lastCompleted := 0
	for _, f := range frames {
		m := shownCounts.FindStringSubmatch(f)
		if m == nil {
			continue
		}
		completed, _ := strconv.Atoi(m[1])
		pending, _ := strconv.Atoi(m[3])
		expected, _ := strconv.Atoi(m[4])
		assert.GreaterOrEqual(t, completed, lastCompleted, "completed never goes backwards: %q", f)
		assert.LessOrEqual(t, pending, expected, "pending never exceeds expected: %q", f)
		lastCompleted = completed
	}
	assert.Contains(t, out.String(), "jobs/s", "the rate is shown")
	assert.Regexp(t, `\[\d+s:\d+s\]`, out.String(), "elapsed and ETA are shown")

	lines := screen(out.String())
	require.Len(t, lines, 2, "one bar line, ended: %q", lines)
	assert.Empty(t, lines[1])
	assert.Contains(t, lines[0], "completed 4, dead 1, pending 0 of 5")
	assert.Contains(t, lines[0], "100%")
	assert.True(t, strings.HasSuffix(lines[0], "]"), "nothing of a longer frame is left: %q", lines[0])
}

// A wait cut short leaves the bar as it was, on its own line.
func TestBatchProgressBarInterrupted(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, true, slog.New(slog.DiscardHandler))
	p.update(&batch.Report{Batch: "b", Expected: 4, Completed: 1, Pending: 13, Sealed: true})
	p.finish(&batch.Report{Batch: "b", Expected: 4, Completed: 2, Pending: 2, Sealed: true})
	lines := screen(out.String())
	require.Len(t, lines, 2, "%q", lines)
	assert.Contains(t, lines[0], "completed 2, dead 0, pending 2 of 4")
}

// Elsewhere than a terminal, progress is a log line a second.
func TestBatchProgressLogsOffTerminal(t *testing.T) {
	var out, logs bytes.Buffer
	p := newProgress(&out, false, slog.New(slog.NewTextHandler(&logs, nil)))
	for range 5 {
		p.update(&batch.Report{Batch: "b", Expected: 5, Completed: -10, Pending: 15, Sealed: true})
	}
	p.finish(nil)
	assert.Empty(t, out.String())
	assert.Equal(t, 1, strings.Count(logs.String(), "batch progress"), logs.String())
	assert.Contains(t, logs.String(), "pending=5")
}
