package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/batch"
	"net/http"
	"strconv"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/dlq"
	"github.com/jetpool/jetpool/internal/status"
)

// maxPage bounds the batches and dead letters of one page.
const maxPage = 200

// apiStatus is what `jetpool status --json` prints.
func (h *Handler) apiStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.ctx(r)
	defer cancel()
	st, err := status.Collect(ctx, h.nc, h.js, h.opts.Names, h.opts.Monitors)
	h.reply(w, r, st, err)
}

// apiBatches is a page of batch reports, newest first: ?before=&limit=.
func (h *Handler) apiBatches(w http.ResponseWriter, r *http.Request) {
	before, limit, err := pageParams(r, "before")
	if err != nil {
		h.reply(w, r, nil, err)
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	page, err := status.Batches(ctx, h.js, h.opts.Names, before, limit)
	h.reply(w, r, page, err)
}

// apiBatch is one batch's report, per stage: ?id=.
func (h *Handler) apiBatch(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if err := jetpool.ValidateBatchID(id); err != nil {
		h.reply(w, r, nil, badRequest(err))
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	batches, err := batch.New(h.js, batch.Options{Names: h.opts.Names})
	if err != nil {
		h.reply(w, r, nil, err)
		return
	}
	rep, err := batches.Reconcile(ctx, id)
	if errors.Is(err, batch.ErrBatchNotFound) {
		err = notFound(err)
	}
	h.reply(w, r, rep, err)
}

// apiDead is a page of a queue's dead letters, oldest first:
// ?queue=&from=&limit=.
func (h *Handler) apiDead(w http.ResponseWriter, r *http.Request) {
	from, limit, err := pageParams(r, "from")
	if err != nil {
		h.reply(w, r, nil, err)
		return
	}
	queue := r.URL.Query().Get("queue")
	if err := jetpool.ValidateQueue(queue); err != nil {
		h.reply(w, r, nil, badRequest(err))
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	page, err := h.admin.ListPage(ctx, queue, from, limit)
	h.reply(w, r, page, err)
}

// apiJob says where a job is: ?id=.
func (h *Handler) apiJob(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if err := jetpool.ValidateJobID(id); err != nil {
		h.reply(w, r, nil, badRequest(err))
		return
	}
	// A lookup may read the whole work stream: one at a time.
	select {
	case h.lookups <- struct{}{}:
		defer func() { <-h.lookups }()
	default:
		http.Error(w, "another job lookup is running; try again when it ends", http.StatusTooManyRequests)
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	loc, err := h.finder.Find(ctx, id)
	h.reply(w, r, loc, err)
}

// action is the body of a retry or purge.
type action struct {
	Queue string `json:"queue"`
	Seq   uint64 `json:"seq"` // the dead letter to retry
}

// apiRetry re-enqueues one dead letter: {"queue", "seq"}.
func (h *Handler) apiRetry(w http.ResponseWriter, r *http.Request) {
	a, err := readAction(w, r)
	if err == nil && a.Seq == 0 {
		err = badRequest(errors.New("seq: give the dead letter's sequence"))
	}
	if err != nil {
		h.reply(w, r, nil, err)
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	l, err := h.admin.RetrySeq(ctx, a.Queue, a.Seq)
	if errors.Is(err, dlq.ErrNotFound) {
		err = notFound(err)
	}
	if err == nil {
		h.log.Info("dashboard: dead job retried", "queue", a.Queue, "job_id", l.JobID, "seq", a.Seq)
	}
	h.reply(w, r, map[string]any{"retried": 1, "job_id": jobIDOf(l)}, err)
}

// apiPurge deletes every dead letter of a queue: {"queue"}.
func (h *Handler) apiPurge(w http.ResponseWriter, r *http.Request) {
	a, err := readAction(w, r)
	if err != nil {
		h.reply(w, r, nil, err)
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	n, err := h.admin.Purge(ctx, a.Queue)
	if err == nil {
		h.log.Info("dashboard: dead letters purged", "queue", a.Queue, "purged", n)
	}
	h.reply(w, r, map[string]any{"purged": n}, err)
}

func jobIDOf(l *dlq.Letter) string {
	if l == nil {
		return ""
	}
	return l.JobID
}

func readAction(w http.ResponseWriter, r *http.Request) (*action, error) {
	var a action
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&a); err != nil {
		return nil, badRequest(fmt.Errorf("body: want {\"queue\": ..., \"seq\": ...}: %w", err))
	}
	if err := jetpool.ValidateQueue(a.Queue); err != nil {
		return nil, badRequest(err)
	}
	return &a, nil
}

// pageParams reads a page's cursor (named cursor) and limit (default 50,
// at most maxPage).
func pageParams(r *http.Request, cursor string) (uint64, int, error) {
	q := r.URL.Query()
	var at uint64
	if s := q.Get(cursor); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, badRequest(fmt.Errorf("%s %q: want a stream sequence", cursor, s))
		}
		at = v
	}
	limit := 50
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxPage {
			return 0, 0, badRequest(fmt.Errorf("limit %q: want 1 to %d", s, maxPage))
		}
		limit = v
	}
	return at, limit, nil
}
