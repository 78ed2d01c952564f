package handlers_test

import (
	"context"
	"fmt"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/handlers"
	"github.com/nats-io/nats.go"
)

// An exec handler runs a program per job with the payload on stdin; here it
// forwards the program's stdout to the next queue.
func ExampleExec() {
	h, err := handlers.Exec(handlers.ExecOptions{Argv: []string{"tr", "a-z", "A-Z"}, Forward: "shout"})
	if err != nil {
		fmt.Println(err)
		return
	}
	job := (&jetpool.Job{ID: "j1", Queue: "words", Attempt: 1, Payload: []byte("hello")}).WithForwarder(
		func(_ context.Context, queue string, payload []byte, _ nats.Header) (string, error) {
			fmt.Printf("to %s: %s\n", queue, payload)
			return "j1-fwd", nil
		})
	fmt.Println(h.Handle(context.Background(), job))
	// Output:
	// to shout: HELLO
	// <nil>
}
