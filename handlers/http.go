package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/capped"
)

// HTTPOptions configures [HTTP].
type HTTPOptions struct {
	// URL receives each job's payload in a POST. Required.
	URL string
	// Client sends the requests; a client of its own when nil. The job's
	// context bounds each request.
	Client *http.Client
	// Forward, when set, is the queue that receives the response body of a
	// 2xx answer.
	Forward string
}

// httpHandler POSTs each job's payload to a URL.
type httpHandler struct {
	url     string
	client  *http.Client
	forward string
}

// HTTP returns a handler that POSTs each job's payload to opts.URL with the
// job's metadata in Jetpool-Job-Id, Jetpool-Queue, Jetpool-Batch and
// Jetpool-Attempt headers. A 2xx answer completes the job, 429 retries it
// after its Retry-After seconds, another 4xx dead-letters it, anything else
// retries it.
func HTTP(opts HTTPOptions) (jetpool.Handler, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("handlers: HTTPOptions.URL %q: not an http(s) URL", opts.URL)
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{}
	}
	return &httpHandler{url: opts.URL, client: client, forward: opts.Forward}, nil
}

func (h *httpHandler) Handle(ctx context.Context, job *jetpool.Job) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(job.Payload))
	if err != nil {
		return jetpool.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Jetpool-Job-Id", job.ID)
	req.Header.Set("Jetpool-Queue", job.Queue)
	req.Header.Set("Jetpool-Batch", job.Batch)
	req.Header.Set("Jetpool-Attempt", strconv.Itoa(job.Attempt))
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// A body cut short cannot be forwarded, nor trusted as an answer.
		return fmt.Errorf("POST %s: %s: reading the response: %w", h.url, resp.Status, err)
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		if h.forward != "" {
			if _, err := job.Forward(ctx, h.forward, body, nil); err != nil {
				return err
			}
		}
		return nil
	case code == http.StatusTooManyRequests:
		err := fmt.Errorf("POST %s: %s", h.url, resp.Status)
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs >= 0 {
			return jetpool.RetryAfter(time.Duration(secs)*time.Second, err)
		}
		return err
	case code >= 400 && code < 500:
		return jetpool.Permanent(fmt.Errorf("POST %s: %s: %s", h.url, resp.Status, capped.Truncate(body, 200)))
	default:
		return fmt.Errorf("POST %s: %s: %s", h.url, resp.Status, capped.Truncate(body, 200))
	}
}
