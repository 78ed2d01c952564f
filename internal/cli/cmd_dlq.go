package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

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
		ad, err := dlq.New(s.js, s.names)
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
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB ID\tBATCH\tATTEMPTS\tDEAD AT\tERROR")
			for _, l := range letters {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", l.JobID, l.Batch, l.Attempts, l.DeadAt.Format(time.RFC3339), truncate([]byte(l.Error), 80))
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVar(&lsJSON, "json", false, "print a JSON array")

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
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				*dlq.Letter
				PayloadText string `json:"payload_text"`
			}{l, string(l.Payload)})
		},
	}

	var all bool
	retry := &cobra.Command{
		Use: "retry QUEUE (ID | --all)", Short: "Re-enqueue dead jobs with a fresh attempt count", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 2) {
				return exitWith(ExitUsage, errors.New("give a job ID or --all"))
			}
			ad, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			if all {
				n, err := ad.RetryAll(cmd.Context(), args[0])
				fmt.Fprintf(a.stdout, "retried %d jobs\n", n)
				return err
			}
			if err := ad.Retry(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "retried %s\n", args[1])
			return nil
		},
	}
	retry.Flags().BoolVar(&all, "all", false, "retry every dead job of the queue")

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
			fmt.Fprintf(a.stdout, "purged %d jobs\n", n)
			return nil
		},
	}
	cmd.AddCommand(ls, show, retry, purge)
	return cmd
}
