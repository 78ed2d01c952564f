package cli

import (
	"bytes"
	"encoding/json"
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
	"github.com/spf13/cobra"
)

func (a *app) dlqCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "List, show, retry and purge dead-lettered jobs"}
	admin := func(cmd *cobra.Command) (*dlq.Admin, func(), error) {
		s, err := a.connect(cmd.Context(), false)
		if err != nil {
			return nil, nil, err
		}
		ad, err := dlq.New(s.js, dlq.Options{Names: s.names, Logger: a.log})
		if err != nil {
			s.close()
			return nil, nil, err
		}
		return ad, s.close, nil
	}

	var lsJSON bool
	ls := &cobra.Command{
		Use: "ls QUEUE", Short: "List the dead jobs of a queue", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ad, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			letters, err := ad.List(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if lsJSON {
				if letters == nil {
					letters = []dlq.Letter{}
				}
				return json.NewEncoder(a.stdout).Encode(letters)
			}
			if len(letters) == 0 {
				fmt.Fprintf(a.stdout, "no dead jobs in queue %s\n", args[0])
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB ID\tBATCH\tATTEMPTS\tDEAD AT\tERROR")
			for _, l := range letters {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", l.JobID, l.Batch, l.Attempts, l.DeadAt.Format(time.RFC3339), truncate([]byte(l.Error), 80))
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVar(&lsJSON, "json", false, "print a JSON array")

	var showJSON bool
	show := &cobra.Command{
		Use: "show QUEUE ID", Short: "Show one dead job with its payload", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ad, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			l, err := ad.Get(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if !showJSON {
				printLetter(a.stdout, l)
				return nil
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				*dlq.Letter
				PayloadText string `json:"payload_text"`
			}{l, string(l.Payload)})
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print one JSON object (the payload base64 in payload, as text in payload_text)")

	var all, retryJSON bool
	retry := &cobra.Command{
		Use: "retry QUEUE (ID | --all)", Short: "Re-enqueue dead jobs with a fresh attempt count", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 2) {
				return usageError(errors.New("give a job ID or --all"))
			}
			ad, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			res := retryResult{Queue: args[0]}
			if all {
				res.Retried, err = ad.RetryAll(cmd.Context(), args[0])
			} else if err = ad.Retry(cmd.Context(), args[0], args[1]); err == nil {
				res.Retried, res.JobIDs = 1, []string{args[1]}
			}
			switch {
			case retryJSON && (err == nil || res.Retried > 0):
				if perr := a.printJSON(res); err == nil {
					err = perr
				}
			case all:
				fmt.Fprintf(a.stdout, "retried %d jobs\n", res.Retried)
			case err == nil:
				fmt.Fprintf(a.stdout, "retried %s\n", args[1])
			}
			return err
		},
	}
	retry.Flags().BoolVar(&all, "all", false, "retry every dead job of the queue")
	retry.Flags().BoolVar(&retryJSON, "json", false, "print the result as one JSON object")

	var purgeJSON bool
	purge := &cobra.Command{
		Use: "purge QUEUE", Short: "Delete every dead job of a queue", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ad, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			n, err := ad.Purge(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if purgeJSON {
				return a.printJSON(struct {
					Queue  string `json:"queue"`
					Purged int    `json:"purged"`
				}{args[0], n})
			}
			fmt.Fprintf(a.stdout, "purged %d jobs\n", n)
			return nil
		},
	}
	purge.Flags().BoolVar(&purgeJSON, "json", false, "print the result as one JSON object")
	cmd.AddCommand(ls, show, retry, purge)
	return cmd
}

// retryResult is what dlq retry --json prints.
type retryResult struct {
	Queue   string   `json:"queue"`
	Retried int      `json:"retried"`
	JobIDs  []string `json:"job_ids,omitempty"` // given one ID: that job
}

// printLetter shows a dead job for people: its fields, then its payload as
// text, or a note when the payload is not text.
func printLetter(w io.Writer, l *dlq.Letter) {
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
	_ = tw.Flush()
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
}

// unprintable is a control character other than a tab or a line end.
func unprintable(r rune) bool {
	return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
}
