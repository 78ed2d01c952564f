// Package jetpooltest helps test code that uses jetpool, as rivertest does
// for river: it starts a real embedded NATS server for a test, provisions
// queues, runs a handler inline on one job, runs a real worker pool until a
// batch is done, and lists the jobs a producer enqueued.
//
// Every function takes a testing.TB, fails the test on an error of its own,
// and releases what it started when the test ends. The server and the jobs
// are real (JetStream, not a mock), so what passes here runs the same way in
// production; each test gets a server of its own on a free port with a
// temporary store, so tests may run in parallel.
//
// A test of a handler:
//
//	out := jetpooltest.RunJob(t, handler, []byte(`{"to":"a@example.com"}`), jetpooltest.JobOptions{})
//	if out.State != jetpooltest.Completed { t.Fatal(out.Err) }
//
// A test of a producer:
//
//	js := jetpooltest.StartBroker(t, "emails")
//	// ... the code under test enqueues through js ...
//	jobs := jetpooltest.Enqueued(t, js, "emails")
//
// It uses the default names (jetpool.DefaultNames) throughout.
package jetpooltest
