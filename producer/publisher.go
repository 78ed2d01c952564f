package producer

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// idlePublishers is how many publishers a producer keeps for later batch
// enqueues once no enqueue uses them.
const idlePublishers = 4

// publisherSettle is how long a publisher lives at least before it is
// released. Its first asynchronous publish starts a nats.go goroutine that
// must have run once before CleanupPublisher, or it waits forever on a nil
// channel (nats.go v1.55, resetPendingAcksOnReconnect); nothing tells when
// it has run, so a publisher released young waits out the rest of this.
const publisherSettle = 250 * time.Millisecond

// publisher is a JetStream context that one batch enqueue at a time
// publishes through. Every publish it sends gets exactly one answer on
// answers: the acknowledgement, or the error (a refusal, no answer within
// AckTimeout, a lost connection), so a window waits on one channel rather
// than on two per publish.
type publisher struct {
	js   jetstream.JetStream
	born time.Time // just before its first publish
	// answers has room for twice Window answers. A window keeps at most
	// Window publishes unanswered, each answered once; a publish that
	// fails as it is sent during a reconnect can be answered as well,
	// after the window has set it aside. The handlers, which nats.go may
	// call with its lock held, never wait.
	answers chan answer
	// send are the options of every publish: no resend by nats.go when no
	// stream answers. The window resends instead, so nats.go never reads a
	// message after its answer, and the window can reuse it.
	send []jetstream.PublishOpt
}

// answer is JetStream's answer to one publish of msg.
type answer struct {
	msg *nats.Msg
	ack *jetstream.PubAck
	err error
}

// newPublisher opens a JetStream context on js's connection whose async
// publishes give up waiting for an acknowledgement after AckTimeout, so
// that a lost acknowledgement frees its place and can be sent again.
func newPublisher(js jetstream.JetStream, opts Options) (*publisher, error) {
	pub := &publisher{born: time.Now(), answers: make(chan answer, 2*opts.Window),
		send: []jetstream.PublishOpt{jetstream.WithRetryAttempts(0)}}
	jo := []jetstream.JetStreamOpt{
		jetstream.WithPublishAsyncTimeout(opts.AckTimeout),
		jetstream.WithPublishAsyncMaxPending(opts.Window),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, ack *jetstream.PubAck) {
			pub.answers <- answer{msg: m, ack: ack}
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			pub.answers <- answer{msg: m, err: err}
		}),
	}
	o := js.Options()
	var err error
	switch {
	case o.Domain != "":
		pub.js, err = jetstream.NewWithDomain(js.Conn(), o.Domain, jo...)
	case o.APIPrefix != "" && o.APIPrefix != jetstream.DefaultAPIPrefix:
		pub.js, err = jetstream.NewWithAPIPrefix(js.Conn(), o.APIPrefix, jo...)
	default:
		pub.js, err = jetstream.New(js.Conn(), jo...)
	}
	if err != nil {
		return nil, err
	}
	return pub, nil
}

// publishers lends each batch enqueue a publisher of its own and keeps a
// few idle ones, each with its reply subscription, for the next.
type publishers struct {
	mu     sync.Mutex
	idle   []*publisher
	closed bool // keep none: the producer was closed
}

// get lends out an idle publisher, or a new one.
func (ps *publishers) get(js jetstream.JetStream, opts Options) (*publisher, error) {
	ps.mu.Lock()
	if n := len(ps.idle); n > 0 {
		pub := ps.idle[n-1]
		ps.idle = ps.idle[:n-1]
		ps.mu.Unlock()
		return pub, nil
	}
	ps.mu.Unlock()
	return newPublisher(js, opts)
}

// close closes the idle publishers, and every one put back from now on.
func (ps *publishers) close() {
	ps.mu.Lock()
	idle := ps.idle
	ps.idle, ps.closed = nil, true
	ps.mu.Unlock()
	for _, pub := range idle {
		pub.release()
	}
}

// put takes back a publisher. One with publishes still unanswered, or one
// more than the producer keeps, is closed: its unanswered publishes end with
// an error on answers, which nobody reads any more.
func (ps *publishers) put(pub *publisher, unanswered bool) {
	if !unanswered && len(pub.answers) == 0 {
		ps.mu.Lock()
		if !ps.closed && len(ps.idle) < idlePublishers {
			ps.idle = append(ps.idle, pub)
			ps.mu.Unlock()
			return
		}
		ps.mu.Unlock()
	}
	pub.release()
}

// release ends pub's reply subscription and its nats.go goroutine, once
// pub is old enough for that goroutine to have run (publisherSettle).
func (pub *publisher) release() {
	if d := publisherSettle - time.Since(pub.born); d > 0 {
		time.Sleep(d)
	}
	pub.js.CleanupPublisher()
}
