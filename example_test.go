package jetpool_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetpool/jetpool"
)

func ExampleHandlerFunc() {
	h := jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		fmt.Printf("resizing %s (attempt %d): %s\n", job.ID, job.Attempt, job.Payload)
		return nil
	})
	err := h.Handle(context.Background(), &jetpool.Job{ID: "img-1", Attempt: 1, Payload: []byte("cat.png")})
	fmt.Println("error:", err)
	// Output:
	// resizing img-1 (attempt 1): cat.png
	// error: <nil>
}

func ExamplePermanent() {
	h := jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		if len(job.Payload) == 0 {
			// Retrying cannot help: send the job to the dead-letter stream now.
			return jetpool.Permanent(errors.New("empty payload"))
		}
		return jetpool.RetryAfter(30*time.Second, errors.New("rate limited"))
	})
	err := h.Handle(context.Background(), &jetpool.Job{ID: "j1"})
	fmt.Println(errors.Is(err, jetpool.ErrPermanent), err)

	err = h.Handle(context.Background(), &jetpool.Job{ID: "j2", Payload: []byte("x")})
	var ra *jetpool.RetryAfterError
	fmt.Println(errors.As(err, &ra), ra.Delay)
	// Output:
	// true permanent failure: empty payload
	// true 30s
}

func ExampleChain() {
	logging := func(next jetpool.Handler) jetpool.Handler {
		return jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
			fmt.Println("start", job.ID)
			err := next.Handle(ctx, job)
			fmt.Println("end", job.ID, err)
			return err
		})
	}
	h := jetpool.Chain(jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		fmt.Println("work", job.ID)
		return nil
	}), logging)
	_ = h.Handle(context.Background(), &jetpool.Job{ID: "j1"})
	// Output:
	// start j1
	// work j1
	// end j1 <nil>
}
