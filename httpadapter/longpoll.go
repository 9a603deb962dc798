package httpadapter

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tasklife/tasklife"
)

// VersionHeader is the response header of a long poll that carries the
// task's version, for the next long poll's version_gt.
const VersionHeader = "Tasklife-Version"

// Defaults of the bounds on waiting; see WithMaxWait, WithMaxOpenWaits and
// WithHeartbeat.
const (
	DefaultMaxWait      = 60 * time.Second
	DefaultMaxOpenWaits = 1024
	DefaultHeartbeat    = 15 * time.Second
)

// waitLimits bound the requests that wait for changes.
type waitLimits struct {
	maxWait   time.Duration
	maxOpen   int
	heartbeat time.Duration
	// slots holds one token per open long poll or event stream.
	slots chan struct{}
}

func defaultWaitLimits() waitLimits {
	return waitLimits{maxWait: DefaultMaxWait, maxOpen: DefaultMaxOpenWaits, heartbeat: DefaultHeartbeat}
}

// WithMaxWait caps a long poll's ?wait= (a longer one waits this long) and
// an event stream's life (the client reconnects with Last-Event-ID).
// Default DefaultMaxWait.
func WithMaxWait(d time.Duration) Option {
	return func(h *Handler) {
		if d > 0 {
			h.waits.maxWait = d
		}
	}
}

// WithMaxOpenWaits caps how many long polls and event streams may be open
// at once; one more is answered 503 CF-ServiceUnavailable with Retry-After.
// Default DefaultMaxOpenWaits.
func WithMaxOpenWaits(n int) Option {
	return func(h *Handler) {
		if n > 0 {
			h.waits.maxOpen = n
		}
	}
}

// WithHeartbeat sets how often an event stream with nothing to say sends a
// comment line, so that proxies keep it open and a dead client is found.
// Default DefaultHeartbeat.
func WithHeartbeat(d time.Duration) Option {
	return func(h *Handler) {
		if d > 0 {
			h.waits.heartbeat = d
		}
	}
}

// errTooManyWaits answers a long poll or stream beyond WithMaxOpenWaits.
var errTooManyWaits = &Error{Status: http.StatusServiceUnavailable, Title: "CF-ServiceUnavailable", Code: 10015,
	Detail: "Too many requests are waiting for changes; try again later"}

// acquire takes a slot for a waiting request, or answers 503 and reports
// false. The caller releases the slot with release.
func (h *Handler) acquire(w http.ResponseWriter, r *http.Request) bool {
	select {
	case h.waits.slots <- struct{}{}:
		return true
	default:
		w.Header().Set("Retry-After", "1")
		h.WriteError(w, r, errTooManyWaits)
		return false
	}
}

func (h *Handler) release() { <-h.waits.slots }

// longPollQuery is a parsed long poll: how long, and for what.
type longPollQuery struct {
	wait  time.Duration
	until tasklife.WaitFor
}

// parseLongPoll reads ?wait=, ?version_gt= and ?states= of GET of one
// task: nil when wait is absent (a plain GET, as Cloud Controller's; the
// other two are then refused). Without version_gt and states, the poll
// waits for the task to end.
func (h *Handler) parseLongPoll(r *http.Request) (*longPollQuery, error) {
	q := r.URL.Query()
	if !q.Has("wait") {
		for _, k := range []string{"version_gt", "states"} {
			if q.Has(k) {
				return nil, BadQueryParameter(k + " needs wait")
			}
		}
		return nil, nil
	}
	d, err := time.ParseDuration(q.Get("wait"))
	if err != nil || d <= 0 || len(q["wait"]) > 1 {
		return nil, BadQueryParameter("wait must be one positive duration, such as 30s")
	}
	lp := &longPollQuery{wait: min(d, h.waits.maxWait)}
	if q.Has("version_gt") {
		v, err := strconv.ParseInt(q.Get("version_gt"), 10, 64)
		if err != nil || v < 0 || len(q["version_gt"]) > 1 {
			return nil, BadQueryParameter("version_gt must be one integer, 0 or more")
		}
		lp.until.AfterVersion = v
		if v == 0 {
			lp.until.States = tasklife.States() // any task is newer than 0
		}
	}
	if q.Has("states") {
		for s := range strings.SplitSeq(q.Get("states"), ",") {
			st := tasklife.State(s)
			if !st.Valid() {
				return nil, BadQueryParameter("states must be comma-separated states, each one of " + stateList())
			}
			lp.until.States = append(lp.until.States, st)
		}
	}
	if len(lp.until.States) == 0 && lp.until.AfterVersion == 0 {
		lp.until.States = []tasklife.State{tasklife.StateSucceeded, tasklife.StateFailed}
	}
	return lp, nil
}

func stateList() string {
	var names []string
	for _, s := range tasklife.States() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// longPoll waits until t is as lp asks or lp.wait has passed, and returns
// the task to answer with, checked again for p; false when it has answered
// (an error, or a client that went away).
func (h *Handler) longPoll(w http.ResponseWriter, r *http.Request, p Principal, t *tasklife.Task, lp *longPollQuery) (*tasklife.Task, bool) {
	if !h.acquire(w, r) {
		return nil, false
	}
	defer h.release()
	// A server's WriteTimeout would cut the answer off: give it the wait
	// and a margin. Servers without deadlines say ErrNotSupported.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(lp.wait + 10*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), lp.wait)
	defer cancel()
	got, err := h.svc.Wait(ctx, t.GUID, lp.until)
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && got != nil:
		// Time is up (the wait's, or a deadline the host set on the
		// request): the task as it is, for the client to look at and ask
		// again.
	case r.Context().Err() != nil:
		return nil, false // the client went away: nobody to answer
	default:
		h.WriteError(w, r, err)
		return nil, false
	}
	if !h.authorize(w, r, p, PermReadTask, got) {
		return nil, false
	}
	return got, true
}
