// Package manager runs a periodic producer: every interval, while it holds
// its name's leader lease, a [Manager] asks its [Source] for the cycle's
// jobs, enqueues them as one batch whose job IDs derive from the cycle, and
// waits for the batch to finish. One manager per name leads across all
// processes; a standby takes over when the leader stops renewing its lease.
package manager
