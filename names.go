package jetpool

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest queue name, job ID or batch ID accepted, in bytes.
const MaxNameLen = 255

// DefaultPrefix is the subject prefix used when none is configured.
const DefaultPrefix = "jetpool"

// ValidateName checks that value, named by kind in the error ("queue",
// "job ID", "batch ID", "prefix"), is a single NATS subject token: not
// empty, at most [MaxNameLen] bytes, without '.', '*', '>' or white space.
func ValidateName(kind, value string) error {
	switch {
	case value == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidName, kind)
	case len(value) > MaxNameLen:
		return fmt.Errorf("%w: %s %.40q... is %d bytes, longer than %d", ErrInvalidName, kind, value, len(value), MaxNameLen)
	}
	for _, r := range value {
		switch {
		case r == '.' || r == '*' || r == '>':
			return fmt.Errorf("%w: %s %q contains %q; it must be a single NATS subject token", ErrInvalidName, kind, value, r)
		case r <= ' ' || r == 0x7f:
			return fmt.Errorf("%w: %s %q contains white space or a control character", ErrInvalidName, kind, value)
		}
	}
	return nil
}

// ValidateQueue checks a queue name; see [ValidateName].
func ValidateQueue(q string) error { return ValidateName("queue", q) }

// ValidateJobID checks a job ID; see [ValidateName].
func ValidateJobID(id string) error { return ValidateName("job ID", id) }

// ValidateBatchID checks a batch ID; see [ValidateName].
func ValidateBatchID(id string) error { return ValidateName("batch ID", id) }

// Names derives every subject, stream, consumer and bucket name from one
// prefix, so that several jetpool installations can share a NATS server.
type Names struct {
	prefix string
}

// NewNames validates prefix and returns its names. An empty prefix means
// [DefaultPrefix]. Stream and bucket names may hold only letters, digits,
// '-' and '_', so the prefix is limited to those.
func NewNames(prefix string) (Names, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := ValidateName("prefix", prefix); err != nil {
		return Names{}, err
	}
	for _, r := range prefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return Names{}, fmt.Errorf("%w: prefix %q contains %q; use letters, digits, '-' and '_'", ErrInvalidName, prefix, r)
		}
	}
	return Names{prefix: prefix}, nil
}

// DefaultNames are the names for [DefaultPrefix].
func DefaultNames() Names { return Names{prefix: DefaultPrefix} }

// Prefix is the subject prefix.
func (n Names) Prefix() string { return n.p() }

func (n Names) p() string {
	if n.prefix == "" {
		return DefaultPrefix
	}
	return n.prefix
}

func (n Names) upper() string { return strings.ToUpper(strings.ReplaceAll(n.p(), "-", "_")) }

// WorkStream is the stream that holds jobs waiting or running.
func (n Names) WorkStream() string { return n.upper() + "_JOBS" }

// DeadStream is the stream that holds dead-lettered jobs.
func (n Names) DeadStream() string { return n.upper() + "_DEAD" }

// BatchBucket is the key-value bucket of batch manifests.
func (n Names) BatchBucket() string { return n.p() + "_batches" }

// LeaseBucket is the key-value bucket of manager leader leases.
func (n Names) LeaseBucket() string { return n.p() + "_leases" }

// WorkerBucket is the key-value bucket of live worker processes.
func (n Names) WorkerBucket() string { return n.p() + "_workers" }

// ReturnBucket is the key-value bucket that counts, per job message, the
// deliveries a pool gave back without starting them: those are not
// attempts.
func (n Names) ReturnBucket() string { return n.p() + "_returns" }

// JobSubject is the subject of a job of queue in batch.
func (n Names) JobSubject(queue, batch string) string { return n.p() + ".jobs." + queue + "." + batch }

// JobsWildcard matches every job subject.
func (n Names) JobsWildcard() string { return n.p() + ".jobs.*.>" }

// QueueFilter matches every job of queue.
func (n Names) QueueFilter(queue string) string { return n.p() + ".jobs." + queue + ".>" }

// BatchFilter matches every job of batch, in every queue.
func (n Names) BatchFilter(batch string) string { return n.p() + ".jobs.*." + batch }

// DeadSubject is the subject of a dead job of queue in batch.
func (n Names) DeadSubject(queue, batch string) string { return n.p() + ".dead." + queue + "." + batch }

// DeadWildcard matches every dead-letter subject.
func (n Names) DeadWildcard() string { return n.p() + ".dead.*.>" }

// DeadQueueFilter matches the dead jobs of queue.
func (n Names) DeadQueueFilter(queue string) string { return n.p() + ".dead." + queue + ".>" }

// DeadBatchFilter matches the dead jobs of batch, in every queue.
func (n Names) DeadBatchFilter(batch string) string { return n.p() + ".dead.*." + batch }

// ConsumerName is the durable consumer shared by every worker of queue.
func (n Names) ConsumerName(queue string) string { return queue }

// SplitSubject returns the queue and batch tokens of a job or dead-letter
// subject, and false when subject is neither.
func (n Names) SplitSubject(subject string) (queue, batch string, ok bool) {
	// Cut, not Split: workers call it for every job, and Split allocates.
	rest, found := strings.CutPrefix(subject, n.p())
	if !found {
		return "", "", false
	}
	rest, found = strings.CutPrefix(rest, ".")
	if !found {
		return "", "", false
	}
	kind, rest, _ := strings.Cut(rest, ".")
	queue, batch, found = strings.Cut(rest, ".")
	if !found || (kind != "jobs" && kind != "dead") || strings.Contains(batch, ".") {
		return "", "", false
	}
	return queue, batch, true
}
