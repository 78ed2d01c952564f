package cli

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/producer"
	"github.com/spf13/cobra"
)

// enqueueCmd is `jetpool enqueue`.
type enqueueCmd struct {
	a         *app
	out       output
	id, batch string
}

func (a *app) enqueueCommand() *cobra.Command {
	c := &enqueueCmd{a: a, out: a.out()}
	cmd := &cobra.Command{
		Use:   "enqueue QUEUE [PAYLOAD | -]",
		Short: "Enqueue one job, or with '-' one job per stdin line as a batch",
		Long: `Enqueue one job whose payload is PAYLOAD (empty when absent) and print its ID.
The job joins batch --batch, or a batch of its own named by its ID: "jetpool
batch wait ID" waits for it.

With '-', read one job per line from stdin and enqueue them as one batch
whose job IDs are BATCH-LINE; print the batch ID on stdout. Blank lines
(empty or white space only) are skipped, as produce --source-file skips
them; LINE is the line's number in the input, so IDs do not shift. A publish that
JetStream does not acknowledge (an election, a reconnect) is sent again
until the deadline. Exit 1 naming every line that was not enqueued.

Re-running the same input with the same --batch, at any time (after a crash,
a broker restart, the deduplication window), publishes only the lines the
batch does not hold yet; more lines at the end are added. The one case that
cannot be exact is a line published but never acknowledged when an earlier
run died, and no longer remembered by JetStream's deduplication: the re-run
counts those as "may run twice" (at most 3,072 per crash; docs/batches.md).`,
		Args: cobra.RangeArgs(1, 2),
		RunE: c.run,
	}
	c.out.jsonFlag(cmd.Flags(), "print the result as one JSON object: the job ID, or the batch's counts with '-'")
	cmd.Flags().StringVar(&c.id, "id", "", "job ID, the deduplication key (default: random)")
	cmd.Flags().StringVar(&c.batch, "batch", "", "batch ID (default: random with '-', the job's own ID otherwise)")
	return cmd
}

func (c *enqueueCmd) run(cmd *cobra.Command, args []string) error {
	a := c.a
	queue := args[0]
	if err := jetpool.ValidateQueue(queue); err != nil {
		return usageError(err)
	}
	for flag, v := range map[string]string{"--id": c.id, "--batch": c.batch} {
		if v != "" {
			if err := jetpool.ValidateName(flag, v); err != nil {
				return usageError(err)
			}
		}
	}
	s, err := a.connect(cmd.Context(), false)
	if err != nil {
		return err
	}
	defer s.close()
	p, err := producer.New(s.js, producer.Options{Names: s.names, Logger: a.log})
	if err != nil {
		return err
	}
	// No p.Close: closing the connection, as the command ends, releases
	// the producer's publishers without Close's wait for a publisher
	// younger than a quarter of a second.
	if len(args) == 2 && args[1] == "-" {
		return c.enqueueLines(cmd, p, queue)
	}
	var payload []byte
	if len(args) == 2 {
		payload = []byte(args[1])
	}
	// The job always joins a batch, its own ID's when --batch is not given,
	// so that batch show and batch wait accept the ID printed.
	id := cmp.Or(c.id, jetpool.NewID())
	batch := cmp.Or(c.batch, id)
	jobID, err := p.Enqueue(cmd.Context(), queue, payload, producer.WithID(id), producer.WithBatch(batch))
	if err != nil {
		return err
	}
	return c.out.printLine(struct {
		JobID string `json:"job_id"`
		Queue string `json:"queue"`
		Batch string `json:"batch"`
	}{jobID, queue, batch}, jobID)
}

// enqueueLines enqueues stdin's non-blank lines as one batch. Job IDs are
// the batch ID and the line number, so re-running with the same --batch is
// safe.
func (c *enqueueCmd) enqueueLines(cmd *cobra.Command, p *producer.Producer, queue string) error {
	a := c.a
	batch := cmp.Or(c.batch, jetpool.NewID())
	// Every line read stays in memory until it is enqueued, so a garbage
	// collection while reading frees next to nothing; one that ran then was
	// seen to make reading 100,000 lines four times slower. Collect rarely
	// while reading.
	items, err := readRarelyCollecting(a.stdin, batch+"-")
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	b, err := p.EnqueueBatch(cmd.Context(), queue, items, producer.WithBatch(batch))
	switch {
	case c.out.json && b != nil:
		res := enqueueResult{Batch: b.ID, Queue: queue, Jobs: len(items), Enqueued: b.Enqueued, Repeated: b.Repeated, MayRepeat: b.MayRepeat,
			NotEnqueued: make([]string, 0, len(b.Failed))}
		for _, f := range b.Failed {
			res.NotEnqueued = append(res.NotEnqueued, strings.TrimPrefix(f.ID, batch+"-"))
		}
		if perr := c.out.printJSON(res); perr != nil && err == nil {
			err = perr
		}
	case b != nil && b.Enqueued+b.Repeated > 0:
		if perr := c.out.text(writeLine(b.ID)); perr != nil && err == nil {
			err = perr
		}
	}
	if b != nil && b.MayRepeat > 0 {
		a.log.Warn("lines published again may run twice: an earlier run published them without an acknowledgement",
			"batch", b.ID, "may_repeat", b.MayRepeat)
	}
	var tl *producer.TooLargeError
	if errors.As(err, &tl) {
		lines := make([]string, len(tl.Items))
		for i, item := range tl.Items {
			lines[i] = strings.TrimPrefix(items[item].ID, batch+"-")
		}
		if len(lines) > 100 {
			lines = append(lines[:100], "...")
		}
		return exitWith(ExitFailure, fmt.Errorf("%d of %d lines exceed the work stream's maximum message size of %d bytes (payload plus about 150 bytes of headers); nothing enqueued: lines %s",
			len(tl.Items), len(items), tl.Limit, strings.Join(lines, ", ")))
	}
	var pe *producer.PartialError
	if errors.As(err, &pe) {
		lines := make([]string, len(pe.Failed))
		for i, f := range pe.Failed {
			lines[i] = strings.TrimPrefix(f.ID, batch+"-")
			if i < 20 {
				a.log.Error("line not enqueued", "line", lines[i], "error", f.Err)
			}
		}
		if len(lines) > 100 {
			lines = append(lines[:100], "...")
		}
		return exitWith(ExitFailure, fmt.Errorf("%d of %d lines not enqueued (re-run with --batch %s to publish them): lines %s; first error: %v",
			len(pe.Failed), len(items), batch, strings.Join(lines, ", "), pe.Failed[0].Err))
	}
	if err != nil {
		return err
	}
	a.log.Info("batch enqueued", "batch", b.ID, "jobs", b.Enqueued, "repeated", b.Repeated, "may_repeat", b.MayRepeat)
	return nil
}

// enqueueResult is what enqueue - --json prints.
type enqueueResult struct {
	Batch       string   `json:"batch"`
	Queue       string   `json:"queue"`
	Jobs        int      `json:"jobs"`     // non-blank lines read
	Enqueued    int      `json:"enqueued"` // stored by this run
	Repeated    int      `json:"repeated"` // in the batch already
	MayRepeat   int      `json:"may_repeat"`
	NotEnqueued []string `json:"not_enqueued_lines"` // line numbers; re-run to publish them
}
