package jetpool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// JSONHandler returns a [Handler] for typed jobs: it decodes each job's
// payload, one JSON value, into a T and calls f with it. A payload that
// does not decode (bad JSON, a value of the wrong type, trailing data) is
// dead-lettered at once with the decode error, since retrying cannot help;
// f is not called. Unknown fields are ignored, so producers may add fields
// before workers know them. producer.EnqueueJSON enqueues such jobs.
func JSONHandler[T any](f func(ctx context.Context, job *Job, v T) error) Handler {
	return HandlerFunc(func(ctx context.Context, job *Job) error {
		var v T
		if err := decodeJSON(job.Payload, &v); err != nil {
			return Permanent(fmt.Errorf("decode payload of job %s as %s: %w", job.ID, reflect.TypeFor[T](), err))
		}
		return f(ctx, job, v)
	})
}

// decodeJSON decodes data, which must hold exactly one JSON value, into v.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty payload")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}
