package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/jetpool/jetpool/internal/queuedepth"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go/jetstream"
)

// WatchQueues refreshes the queue depth and dead-letter gauges from one
// snapshot of the work and dead-letter streams every interval, until ctx
// ends. Scrapes read the last snapshot; they never call the server.
func (m *Metrics) WatchQueues(ctx context.Context, js jetstream.JetStream, names jetpool.Names, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := m.refreshDepths(ctx, js, names); err != nil && ctx.Err() == nil {
			log.Debug("refreshing queue depths for metrics", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Metrics) refreshDepths(ctx context.Context, js jetstream.JetStream, names jetpool.Names) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	depth, err := queuedepth.Count(ctx, js, names.WorkStream(), names.JobsWildcard(), names)
	if err != nil {
		return err
	}
	dead, err := queuedepth.Count(ctx, js, names.DeadStream(), names.DeadWildcard(), names)
	if err != nil {
		return err
	}
	m.setDepths(depth, dead)
	return nil
}
