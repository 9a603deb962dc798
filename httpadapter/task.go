package httpadapter

import (
	"net/http"
	"strconv"

	"github.com/tasklife/tasklife"
)

// cancel serves both cancel routes, in Cloud Controller's order of checks.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	p, ok := h.AuthenticateToWrite(w, r)
	if !ok {
		return
	}
	rawKey, err := parseKey(r)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	ctx, guid := r.Context(), r.PathValue("guid")
	if _, ok := h.load(w, r, p, PermReadTask, PermCancelTask); !ok {
		return
	}
	// Both routes are one action: one fingerprint.
	key, err := h.idempotencyKey(rawKey, p, "cancel", guid)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	var t *tasklife.Task
	if key == nil {
		t, err = h.svc.CancelBy(ctx, guid, h.actor(p), "")
	} else {
		end, ok := h.inflight.begin(key)
		if !ok {
			h.WriteError(w, r, errKeyInFlight)
			return
		}
		t, err = h.svc.CancelKeyed(ctx, guid, h.actor(p), "", *key)
		end()
	}
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	h.WriteTask(w, r, http.StatusAccepted, t, true)
}

// get answers GET of one task; with ?wait= it is a long poll (see
// longPoll).
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	p, ok := h.AuthenticateToRead(w, r)
	if !ok {
		return
	}
	lp, err := h.parseLongPoll(r)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	t, ok := h.load(w, r, p, PermReadTask)
	if !ok {
		return
	}
	if lp != nil {
		if t, ok = h.longPoll(w, r, p, t, lp); !ok {
			return
		}
		w.Header().Set(VersionHeader, strconv.FormatInt(t.Version, 10))
	}
	h.writeReadable(w, r, p, http.StatusOK, t)
}

// writeReadable answers with t, its command shown only if p may read
// secrets.
func (h *Handler) writeReadable(w http.ResponseWriter, r *http.Request, p Principal, status int, t *tasklife.Task) {
	secrets, err := h.auth.Authorize(r.Context(), p, PermReadSecrets, t)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	h.WriteTask(w, r, status, t, secrets)
}
