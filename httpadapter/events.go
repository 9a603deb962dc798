package httpadapter

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tasklife/tasklife"
)

// eventWriteTimeout is how long one event or heartbeat may take to reach
// a client: a reader slower than that is dropped (its connection closed),
// and it resumes with Last-Event-ID. Nothing is queued for a stream, so a
// slow reader never holds up a write to the store or another stream.
const eventWriteTimeout = 10 * time.Second

// events serves GET /v3/tasks/{guid}/events: a Server-Sent Events stream
// of the task's changes. Each event is
//
//	id: <version>
//	event: task
//	data: <the task, as GET renders it>
//
// The first event is the task as it is (unless Last-Event-ID names its
// version or a later one); each later one is the task at a version newer
// than the one before. Changes that commit faster than the client reads
// are coalesced: an event is the task's latest state, so the client may
// skip a version, but never sees one twice and always sees the last. The
// stream ends after the event that shows the task ended, or after
// WithMaxWait; a client resumes with Last-Event-ID set to the last id it
// got. Checks as GET's, and read permission again before every event: a
// caller who may no longer read the task sees the stream end.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	p, ok := h.AuthenticateToRead(w, r)
	if !ok {
		return
	}
	var last int64
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		v, err := strconv.ParseInt(id, 10, 64)
		if err != nil || v < 0 {
			h.WriteError(w, r, errBadLastEventID)
			return
		}
		last = v
	}
	t, ok := h.load(w, r, p, PermReadTask)
	if !ok || !h.acquire(w, r) {
		return
	}
	defer h.release()

	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send([]byte("retry: 1000\n\n")) {
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.waits.maxWait)
	defer cancel()
	for {
		if t.Version > last {
			if !h.mayRead(r, p, t) || !send(h.appendEvent(nil, r, p, t)) {
				return
			}
			last = t.Version
			if t.State.Terminal() {
				return
			}
		}
		beat, stop := context.WithTimeout(ctx, h.waits.heartbeat)
		got, err := h.svc.Wait(beat, t.GUID, tasklife.WaitFor{AfterVersion: last})
		stop()
		switch {
		case err == nil:
			t = got
		case ctx.Err() != nil:
			return // the client left, or the stream's time is up
		case errors.Is(err, context.DeadlineExceeded):
			if !send([]byte(": heartbeat\n\n")) {
				return
			}
		default:
			// The store failed: end the stream; the client resumes.
			h.logger.WarnContext(r.Context(), "httpadapter: event stream ended by an error", "task", r.PathValue("guid"), "error", err)
			return
		}
	}
}

// errBadLastEventID answers a Last-Event-ID that is not a version.
var errBadLastEventID = &Error{Status: http.StatusBadRequest, Title: "CF-InvalidRequest", Code: 10004,
	Detail: "The request is invalid: Last-Event-ID must be an id this stream sent"}

// mayRead asks again whether p may read t, for each event.
func (h *Handler) mayRead(r *http.Request, p Principal, t *tasklife.Task) bool {
	ok, err := h.auth.Authorize(r.Context(), p, PermReadTask, t)
	return err == nil && ok
}

// appendEvent appends the event for t to dst.
func (h *Handler) appendEvent(dst []byte, r *http.Request, p Principal, t *tasklife.Task) []byte {
	secrets, err := h.auth.Authorize(r.Context(), p, PermReadSecrets, t)
	b := append(dst, "id: "...)
	b = strconv.AppendInt(b, t.Version, 10)
	b = append(b, "\nevent: task\ndata: "...)
	b = appendTask(b, h.BaseURL(r), t, err == nil && secrets)
	return append(b, "\n\n"...)
}
