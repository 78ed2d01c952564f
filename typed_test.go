package jetpool_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jetpool/jetpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type resize struct {
	Image string `json:"image"`
	Width int    `json:"width"`
}

func TestJSONHandlerDecodesOrDeadLetters(t *testing.T) {
	var got []resize
	h := jetpool.JSONHandler(func(_ context.Context, job *jetpool.Job, r resize) error {
		got = append(got, r)
		if r.Width < 0 {
			return errors.New("negative width")
		}
		return nil
	})
	handle := func(payload string) error {
		return h.Handle(context.Background(), &jetpool.Job{ID: "j", Queue: "q", Attempt: 1, Payload: []byte(payload)})
	}
	require.NoError(t, handle(`{"image":"cat.png","width":640}`))
	assert.Equal(t, []resize{{"cat.png", 640}}, got)

	err := handle(`{"image":"cat.png","width":-1}`)
	require.Error(t, err)
	assert.NotErrorIs(t, err, jetpool.ErrPermanent, "the handler's own error is retried")

	for _, bad := range []string{`{"image":`, `{"width":"wide"}`, `{"image":"a"} trailing`, ``} {
		got = nil
		err := handle(bad)
		require.Error(t, err, bad)
		assert.ErrorIs(t, err, jetpool.ErrPermanent, "a payload that cannot decode is dead-lettered at once: %q", bad)
		assert.Contains(t, err.Error(), "decode payload of job j as jetpool_test.resize", bad)
		assert.Empty(t, got, "the handler is not called")
	}
}

func ExampleJSONHandler() {
	type resize struct {
		Image string `json:"image"`
		Width int    `json:"width"`
	}
	h := jetpool.JSONHandler(func(ctx context.Context, job *jetpool.Job, r resize) error {
		fmt.Printf("resizing %s to %d px\n", r.Image, r.Width)
		return nil
	})
	// producer.EnqueueJSON(ctx, p, "resize", resize{"cat.png", 640}) enqueues such a job.
	err := h.Handle(context.Background(), &jetpool.Job{ID: "j1", Payload: []byte(`{"image":"cat.png","width":640}`)})
	fmt.Println("error:", err)
	err = h.Handle(context.Background(), &jetpool.Job{ID: "j2", Payload: []byte(`cat.png`)})
	fmt.Println("dead-lettered:", errors.Is(err, jetpool.ErrPermanent))
	// Output:
	// resizing cat.png to 640 px
	// error: <nil>
	// dead-lettered: true
}
