package jetpooltest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/jetpooltest"
	"github.com/jetpool/jetpool/producer"
)

// sendEmail is the handler under test in the examples.
var sendEmail = jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
	switch string(job.Payload) {
	case "":
		return jetpool.Permanent(errors.New("no address"))
	case "busy@example.com":
		return jetpool.RetryAfter(time.Minute, errors.New("mailbox busy"))
	}
	_, err := job.Forward(ctx, "audit", job.Payload, nil)
	return err
})

func ExampleRunJob() {
	t := newExampleT() // in a test, the test's own *testing.T
	defer t.finish()

	out := jetpooltest.RunJob(t, sendEmail, []byte("a@example.com"), jetpooltest.JobOptions{})
	fmt.Println(out.State, len(out.Forwarded), out.Forwarded[0].Queue)

	out = jetpooltest.RunJob(t, sendEmail, []byte("busy@example.com"), jetpooltest.JobOptions{})
	fmt.Println(out.State, out.RetryAfter)

	out = jetpooltest.RunJob(t, sendEmail, nil, jetpooltest.JobOptions{})
	fmt.Println(out.State, out.Err)
	// Output:
	// completed 1 audit
	// retried 1m0s
	// dead permanent failure: no address
}

func ExampleEnqueued() {
	t := newExampleT() // in a test, the test's own *testing.T
	defer t.finish()
	js := jetpooltest.StartBroker(t, "emails")

	// The code under test enqueues.
	p, err := producer.New(js, producer.Options{})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer p.Close()
	for _, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if _, err := p.Enqueue(context.Background(), "emails", []byte(to), producer.WithID("mail-"+to[:1])); err != nil {
			t.Fatalf("%v", err)
		}
	}

	for _, job := range jetpooltest.Enqueued(t, js, "emails") {
		fmt.Println(job.ID, string(job.Payload))
	}
	// Output:
	// mail-a a@example.com
	// mail-b b@example.com
	// mail-c c@example.com
}

func ExampleWork() {
	t := newExampleT() // in a test, the test's own *testing.T
	defer t.finish()
	js := jetpooltest.StartBroker(t, "emails", "audit")

	p, err := producer.New(js, producer.Options{})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer p.Close()
	items := []producer.Item{{Payload: []byte("a@example.com")}, {Payload: nil}, {Payload: []byte("b@example.com")}}
	b, err := p.EnqueueBatch(context.Background(), "emails", items)
	if err != nil {
		t.Fatalf("%v", err)
	}

	var audited atomic.Int64
	audit := jetpool.HandlerFunc(func(context.Context, *jetpool.Job) error {
		audited.Add(1)
		return nil
	})
	r := jetpooltest.Work(t, js, "emails", b.ID, sendEmail, jetpooltest.WorkOptions{
		Stages: map[string]jetpool.Handler{"audit": audit}})
	fmt.Printf("done=%v expected=%d dead=%d audited=%d\n", r.Done, r.Expected, r.Dead, audited.Load())
	// Output:
	// done=true expected=3 dead=1 audited=2
}

// exampleT stands in, in an Example, for the *testing.T a test has: it
// implements what jetpooltest calls, fails by panicking, and runs the
// cleanups at finish.
type exampleT struct {
	testing.TB // not set: a method not below would panic
	cleanups   []func()
}

func newExampleT() *exampleT { return &exampleT{} }

func (t *exampleT) Helper()                   {}
func (t *exampleT) Log(...any)                {}
func (t *exampleT) Logf(string, ...any)       {}
func (t *exampleT) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Errorf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (t *exampleT) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (t *exampleT) Context() context.Context  { return context.Background() }
func (t *exampleT) Name() string              { return "Example" }
func (t *exampleT) Failed() bool              { return false }

func (t *exampleT) TempDir() string {
	dir, err := os.MkdirTemp("", "jetpooltest")
	if err != nil {
		panic(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// finish runs the cleanups, the last registered first, as a test does.
func (t *exampleT) finish() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
}
