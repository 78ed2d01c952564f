package cli

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
)

// httpHandler POSTs each job's payload to a URL.
type httpHandler struct {
	url     string
	client  *http.Client
	forward string
}

func newHTTPHandler(raw, forward string) (*httpHandler, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--http %q: not an http(s) URL", raw)
	}
	return &httpHandler{url: raw, client: &http.Client{}, forward: forward}, nil
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
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
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
		return jetpool.Permanent(fmt.Errorf("POST %s: %s: %s", h.url, resp.Status, truncate(body, 200)))
	default:
		return fmt.Errorf("POST %s: %s: %s", h.url, resp.Status, truncate(body, 200))
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
