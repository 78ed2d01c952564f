// Package queuedepth counts a stream's messages per queue, the figure both
// the metrics gauges and the status command show.
package queuedepth

import (
	"context"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Count counts a stream's messages under filter per queue, from one
// snapshot of its subjects.
func Count(ctx context.Context, js jetstream.JetStream, stream, filter string, names jetpool.Names) (map[string]int, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for subj, n := range info.State.Subjects {
		if q, _, ok := names.SplitSubject(subj); ok {
			out[q] += int(n)
		}
	}
	return out, nil
}
