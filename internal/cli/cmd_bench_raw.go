package cli

import (
	"fmt"
	"strconv"

	"github.com/jetpool/jetpool/internal/bench"
	"github.com/spf13/cobra"
)

// benchRawCmd is the raw client processes of the commands figure's
// baseline, which only `jetpool bench` runs: hidden.
type benchRawCmd struct{ a *app }

func (a *app) benchRawCommands() []*cobra.Command {
	c := &benchRawCmd{a: a}
	publish := &cobra.Command{
		Use:    "raw-publish QUEUE BATCH",
		Short:  "Publish stdin's lines as the bench's raw client does",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE:   c.publish,
	}
	consume := &cobra.Command{
		Use:    "raw-consume QUEUE N",
		Short:  "Ack N messages of QUEUE as the bench's raw client does",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE:   c.consume,
	}
	return []*cobra.Command{publish, consume}
}

func (c *benchRawCmd) publish(cmd *cobra.Command, args []string) error {
	s, err := c.a.connect(cmd.Context(), false)
	if err != nil {
		return err
	}
	defer s.close()
	return bench.RawPublishLines(cmd.Context(), s.nc, s.names, args[0], args[1], c.a.stdin)
}

func (c *benchRawCmd) consume(cmd *cobra.Command, args []string) error {
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 {
		return usageError(fmt.Errorf("N %q must be a positive number", args[1]))
	}
	s, err := c.a.connect(cmd.Context(), false)
	if err != nil {
		return err
	}
	defer s.close()
	return bench.RawConsume(cmd.Context(), s.js, s.names, args[0], n)
}
