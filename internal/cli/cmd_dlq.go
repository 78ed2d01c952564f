package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/dlq"
	"github.com/jetpool/jetpool/internal/capped"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func (a *app) dlqCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "List, show, retry and purge dead-lettered jobs"}
	cmd.AddCommand(a.dlqListCommand(), a.dlqShowCommand(), a.dlqRetryCommand(), a.dlqPurgeCommand())
	return cmd
}

// dlqAdmin connects and opens the dead-letter admin; done closes both.
func (a *app) dlqAdmin(cmd *cobra.Command) (ad *dlq.Admin, s *session, err error) {
	s, err = a.connect(cmd.Context(), false)
	if err != nil {
		return nil, nil, err
	}
	ad, err = dlq.New(s.js, dlq.Options{Names: s.names, Logger: a.log})
	if err != nil {
		s.close()
		return nil, nil, err
	}
	return ad, s, nil
}

// dlqListCmd is `jetpool dlq ls`.
type dlqListCmd struct {
	a   *app
	out output
}

func (a *app) dlqListCommand() *cobra.Command {
	c := &dlqListCmd{a: a, out: a.out()}
	cmd := &cobra.Command{
		Use: "ls QUEUE", Short: "List the dead jobs of a queue", Args: cobra.ExactArgs(1),
		RunE: c.run,
	}
	c.out.jsonFlag(cmd.Flags(), "print a JSON array")
	return cmd
}

func (c *dlqListCmd) run(cmd *cobra.Command, args []string) error {
	ad, s, err := c.a.dlqAdmin(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	letters, err := ad.List(cmd.Context(), args[0])
	if err != nil {
		return err
	}
	if letters == nil {
		letters = []dlq.Letter{}
	}
	return c.out.print(letters, func(w io.Writer) error {
		if len(letters) == 0 {
			fmt.Fprintf(w, "no dead jobs in queue %s\n", args[0])
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB ID\tBATCH\tATTEMPTS\tDEAD AT\tERROR")
		for _, l := range letters {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", l.JobID, l.Batch, l.Attempts, l.DeadAt.Format(time.RFC3339), capped.Truncate([]byte(l.Error), 80))
		}
		return tw.Flush()
	})
}

// dlqShowCmd is `jetpool dlq show`.
type dlqShowCmd struct {
	a   *app
	out output
}

func (a *app) dlqShowCommand() *cobra.Command {
	c := &dlqShowCmd{a: a, out: a.indentedOut()}
	cmd := &cobra.Command{
		Use: "show QUEUE ID", Short: "Show one dead job with its payload", Args: cobra.ExactArgs(2),
		RunE: c.run,
	}
	c.out.jsonFlag(cmd.Flags(), "print one JSON object (the payload base64 in payload, as text in payload_text)")
	return cmd
}

func (c *dlqShowCmd) run(cmd *cobra.Command, args []string) error {
	ad, s, err := c.a.dlqAdmin(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	l, err := ad.Get(cmd.Context(), args[0], args[1])
	if err != nil {
		return err
	}
	return c.out.print(struct {
		*dlq.Letter
		PayloadText string `json:"payload_text"`
	}{l, string(l.Payload)}, func(w io.Writer) error { return printLetter(w, l) })
}

// dlqRetryCmd is `jetpool dlq retry`.
type dlqRetryCmd struct {
	a   *app
	out output
	all bool
}

func (a *app) dlqRetryCommand() *cobra.Command {
	c := &dlqRetryCmd{a: a, out: a.out()}
	cmd := &cobra.Command{
		Use: "retry QUEUE (ID | --all)", Short: "Re-enqueue dead jobs with a fresh attempt count", Args: cobra.RangeArgs(1, 2),
		RunE: c.run,
	}
	cmd.Flags().BoolVar(&c.all, "all", false, "retry every dead job of the queue")
	c.out.jsonFlag(cmd.Flags(), "print the result as one JSON object")
	return cmd
}

func (c *dlqRetryCmd) run(cmd *cobra.Command, args []string) error {
	if c.all == (len(args) == 2) {
		return usageError(errors.New("give a job ID or --all"))
	}
	ad, s, err := c.a.dlqAdmin(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	res := retryResult{Queue: args[0]}
	if c.all {
		res.Retried, err = ad.RetryAll(cmd.Context(), args[0])
	} else if err = ad.Retry(cmd.Context(), args[0], args[1]); err == nil {
		res.Retried, res.JobIDs = 1, []string{args[1]}
	}
	// With --all, how many were retried before an error is printed too
	// (in JSON only when there were some).
	if err != nil && (!c.all || c.out.json && res.Retried == 0) {
		return err
	}
	line := fmt.Sprintf("retried %d jobs", res.Retried)
	if !c.all {
		line = "retried " + args[1]
	}
	perr := c.out.printLine(res, line)
	return cmp.Or(err, perr)
}

// dlqPurgeCmd is `jetpool dlq purge`.
type dlqPurgeCmd struct {
	a     *app
	out   output
	force bool
}

func (a *app) dlqPurgeCommand() *cobra.Command {
	c := &dlqPurgeCmd{a: a, out: a.out()}
	cmd := &cobra.Command{
		Use:   "purge QUEUE",
		Short: "Delete every dead job of a queue, after asking",
		Long: `Delete every dead job of a queue. On a terminal it asks first, naming how many
dead jobs it would delete; where stdin is not a terminal (a script, a pipe) it
refuses to delete without --force.`,
		Args: cobra.ExactArgs(1),
		RunE: c.run,
	}
	cmd.Flags().BoolVarP(&c.force, "force", "f", false, "delete without asking")
	c.out.jsonFlag(cmd.Flags(), "print the result as one JSON object")
	return cmd
}

func (c *dlqPurgeCmd) run(cmd *cobra.Command, args []string) error {
	queue := args[0]
	if err := jetpool.ValidateQueue(queue); err != nil {
		return usageError(err)
	}
	ask := !c.force
	if ask && !c.a.stdinTerminal() {
		return usageError(fmt.Errorf("dlq purge %s deletes its dead jobs for good: stdin is not a terminal to confirm on, so give --force", queue))
	}
	ad, s, err := c.a.dlqAdmin(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	if ask {
		n, err := deadCount(cmd.Context(), s, queue)
		if err != nil {
			return err
		}
		if n > 0 {
			ok, err := c.a.confirm(fmt.Sprintf("purge %d dead letters of %s? [y/N] ", n, queue))
			if err != nil {
				return err
			}
			if !ok {
				return exitWith(ExitFailure, fmt.Errorf("dlq purge %s: not confirmed; nothing deleted", queue))
			}
		}
	}
	n, err := ad.Purge(cmd.Context(), queue)
	if err != nil {
		return err
	}
	return c.out.printLine(struct {
		Queue  string `json:"queue"`
		Purged int    `json:"purged"`
	}{queue, n}, fmt.Sprintf("purged %d jobs", n))
}

// deadCount is how many dead jobs of queue the dead-letter stream holds.
func deadCount(ctx context.Context, s *session, queue string) (int, error) {
	st, err := s.js.Stream(ctx, s.names.DeadStream())
	if err != nil {
		return 0, fmt.Errorf("open dead-letter stream %s: %w", s.names.DeadStream(), err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(s.names.DeadQueueFilter(queue)))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n, nil
}

// retryResult is what dlq retry --json prints.
type retryResult struct {
	Queue   string   `json:"queue"`
	Retried int      `json:"retried"`
	JobIDs  []string `json:"job_ids,omitempty"` // given one ID: that job
}

// printLetter shows a dead job for people: its fields, then its payload as
// text, or a note when the payload is not text. w is an errWriter, which
// keeps the first write error for the command to return.
func printLetter(w io.Writer, l *dlq.Letter) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range [][2]string{
		{"job", l.JobID}, {"queue", l.Queue}, {"batch", l.Batch}, {"attempts", strconv.Itoa(l.Attempts)},
		{"dead at", l.DeadAt.Format(time.RFC3339)}, {"error", l.Error},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", f[0], f[1])
	}
	names := make([]string, 0, len(l.Headers))
	for k := range l.Headers {
		if strings.HasPrefix(k, "Nats-") {
			continue // JetStream's own
		}
		switch k {
		case jetpool.HeaderJobID, jetpool.HeaderQueue, jetpool.HeaderBatch,
			jetpool.HeaderError, jetpool.HeaderAttempts, jetpool.HeaderDeadAt:
			continue // shown above
		}
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(tw, "header\t%s: %s\n", k, strings.Join(l.Headers[k], ", "))
	}
	fmt.Fprintf(tw, "payload\t%d bytes\n", len(l.Payload))
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case len(l.Payload) == 0:
	case utf8.Valid(l.Payload) && !bytes.ContainsFunc(l.Payload, unprintable):
		fmt.Fprintf(w, "\n%s", l.Payload)
		if !bytes.HasSuffix(l.Payload, []byte("\n")) {
			fmt.Fprintln(w)
		}
	default:
		fmt.Fprintln(w, "\n(binary; --json shows it, base64)")
	}
	return nil
}

// unprintable is a control character other than a tab or a line end.
func unprintable(r rune) bool {
	return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
}
