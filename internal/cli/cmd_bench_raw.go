package cli

import (
	"fmt"
	"strconv"

	"github.com/jetpool/jetpool/internal/bench"
	"github.com/spf13/cobra"
)

// benchRawCommands are the raw client processes of the commands figure's
// baseline, which only `jetpool bench` runs: hidden.
func (a *app) benchRawCommands() []*cobra.Command {
	publish := &cobra.Command{
		Use:    "raw-publish QUEUE BATCH",
		Short:  "Publish stdin's lines as the bench's raw client does",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close()
			return bench.RawPublishLines(cmd.Context(), s.nc, s.names, args[0], args[1], a.stdin)
		},
	}
	consume := &cobra.Command{
		Use:    "raw-consume QUEUE N",
		Short:  "Ack N messages of QUEUE as the bench's raw client does",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return usageError(fmt.Errorf("N %q must be a positive number", args[1]))
			}
			s, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close()
			return bench.RawConsume(cmd.Context(), s.js, s.names, args[0], n)
		},
	}
	return []*cobra.Command{publish, consume}
}
