package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// GET /v3/tasks/{guid}/logs answers a task's kept output (tasklogs.go):
//
//   - as text, a line each: "<time, UTC, microseconds> <stream> <line>",
//     or with ?format=jsonl as JSON lines:
//     {"n":1,"time":"...","stream":"stdout","line":"hello"} (plus
//     "truncated":true for a line cut at maxLogLine);
//   - with ?follow=true it goes on, line by line as the task writes them,
//     until the task's output ends (or, for a task that runs elsewhere,
//     the task ends), as kubectl logs -f does.
//
// Checks as GET /v3/tasks/{guid}, and then PermReadSecrets (403 without):
// a task's output is at least as secret as its command, which usually
// names what it prints, and may print the secrets its command holds.
//
// When this instance holds no output for the task (it has not started, or
// it ran on another instance or before a restart, or its output was
// evicted), the answer is 200 with an empty body and the header
// "Tasklife-Logs: none"; a follow then waits for the task to start here
// or to end. When older lines were dropped to stay within the bounds,
// "Tasklife-Logs-Dropped: N" says how many, and a line of stream "taskd"
// says so where it happened.

// Headers of the logs route.
const (
	logsHeader        = "Tasklife-Logs"
	logsDroppedHeader = "Tasklife-Logs-Dropped"
)

// streamWriteTimeout is how long one piece of a stream may take to reach
// its client; a slower reader is dropped.
const streamWriteTimeout = 10 * time.Second

// errTooManyStreams answers a stream beyond the open streams' bound.
var errTooManyStreams = &httpadapter.Error{Status: http.StatusServiceUnavailable, Title: "CF-ServiceUnavailable", Code: 10015,
	Detail: "Too many log and change streams are open; try again later"}

// streams bounds the open follows and change streams, which the request
// deadline does not (see withDeadline): each holds a connection until its
// task ends or its client leaves.
type streams struct {
	slots     chan struct{}
	dbTimeout time.Duration // for the checks before a stream starts
}

func newStreams(n int, dbTimeout time.Duration) *streams {
	return &streams{slots: make(chan struct{}, n), dbTimeout: dbTimeout}
}

// acquire takes a slot, or answers 503 and reports false.
func (s *streams) acquire(h *httpadapter.Handler, w http.ResponseWriter, r *http.Request) bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		w.Header().Set("Retry-After", "1")
		h.WriteError(w, r, errTooManyStreams)
		return false
	}
}

func (s *streams) release() { <-s.slots }

// isStream reports whether r asks for a stream that lives until its task
// ends or its client leaves, so that withDeadline gives it no deadline.
func isStream(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	if r.URL.Path == changesPath {
		return true
	}
	return strings.HasSuffix(r.URL.Path, "/logs") && r.URL.Query().Get("follow") == "true"
}

// logsQuery is what GET .../logs was asked.
type logsQuery struct {
	follow bool
	jsonl  bool
}

func parseLogsQuery(q url.Values) (logsQuery, error) {
	var lq logsQuery
	allowed := []string{"follow", "format"}
	var unknown []string
	for k := range q {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return lq, httpadapter.BadQueryParameter("Unknown query parameter(s): '" + strings.Join(unknown, "', '") +
			"'. Valid parameters are: '" + strings.Join(allowed, "', '") + "'")
	}
	follow, err := choice(q, "follow", "false", "true")
	if err != nil {
		return lq, err
	}
	format, err := choice(q, "format", "text", "jsonl")
	lq.follow, lq.jsonl = follow == 1, format == 1
	return lq, err
}

// choice returns the index among values of q's value of name; absent or
// empty is the first.
func choice(q url.Values, name string, values ...string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	if i := slices.Index(values, v); i >= 0 {
		return i, nil
	}
	return 0, httpadapter.BadQueryParameter(name + " must be " + strings.Join(values, " or "))
}

// logsHandler serves GET /v3/tasks/{guid}/logs.
func logsHandler(h *httpadapter.Handler, svc *tasklife.Service, logs *taskLogs, open *streams) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// A follow has no request deadline; its checks get the store's.
		checks, cancel := context.WithTimeout(r.Context(), open.dbTimeout)
		defer cancel()
		cr := r.WithContext(checks)
		p, ok := h.AuthenticateToRead(w, cr)
		if !ok {
			return
		}
		lq, err := parseLogsQuery(r.URL.Query())
		if err != nil {
			h.WriteError(w, r, err)
			return
		}
		t, ok := h.LoadTask(w, cr, p, httpadapter.PermReadTask, httpadapter.PermReadSecrets)
		if !ok {
			return
		}
		cancel()
		if lq.follow {
			if !open.acquire(h, w, r) {
				return
			}
			defer open.release()
		}
		read := logs.read(t.GUID, 0)
		hdr := w.Header()
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		if lq.jsonl {
			hdr.Set("Content-Type", "application/x-ndjson")
		}
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Accel-Buffering", "no")
		if !read.found {
			hdr.Set(logsHeader, "none")
		}
		if read.dropped > 0 {
			hdr.Set(logsDroppedHeader, strconv.FormatInt(read.dropped, 10))
		}
		w.WriteHeader(http.StatusOK)
		lw := &logWriter{w: w, rc: http.NewResponseController(w), jsonl: lq.jsonl}
		if !lq.follow {
			lw.write(read, 0)
			return
		}
		follow(r.Context(), svc, logs, t, read, lw)
	}
}

// follow writes t's output as it comes, until it ends, t ends elsewhere,
// or ctx ends.
func follow(ctx context.Context, svc *tasklife.Service, logs *taskLogs, t *tasklife.Task, read logRead, lw *logWriter) {
	ctx, cancel := context.WithCancel(ctx)
	var watching chan struct{} // closed once the watcher has returned
	defer func() {
		cancel()
		if watching != nil {
			<-watching
		}
	}()
	var changed chan *tasklife.Task
	var after int64
	for {
		if !lw.write(read, after) {
			return
		}
		if n := len(read.lines); n > 0 {
			after = read.lines[n-1].n
		} else {
			after += read.dropped
		}
		switch {
		case read.ended:
			return
		case !read.found && t.State.Terminal():
			return // it ran elsewhere, or before a restart
		case !read.found && changed == nil:
			changed, watching = make(chan *tasklife.Task), make(chan struct{})
			go watchTask(ctx, svc, t, changed, watching)
		}
		select {
		case <-read.wake:
		case got := <-changed:
			if got == nil {
				return // the store failed: the client asks again
			}
			t = got
		case <-ctx.Done():
			return
		}
		read = logs.read(t.GUID, after)
	}
}

// watchTask sends each new version of t to changed, until t ends, ctx ends
// or the store fails (then nil).
func watchTask(ctx context.Context, svc *tasklife.Service, t *tasklife.Task, changed chan<- *tasklife.Task, done chan<- struct{}) {
	defer close(done)
	for version := t.Version; ; {
		got, err := svc.Wait(ctx, t.GUID, tasklife.WaitFor{AfterVersion: version})
		select {
		case changed <- got:
		case <-ctx.Done():
			return
		}
		if err != nil || got.State.Terminal() {
			return
		}
		version = got.Version
	}
}

// logWriter writes lines of a task's output in one of the two formats.
type logWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	jsonl bool
	buf   []byte
}

// logJSON is a line in JSON lines.
type logJSON struct {
	N         int64  `json:"n"`
	Time      string `json:"time"`
	Stream    string `json:"stream"`
	Line      string `json:"line"`
	Truncated bool   `json:"truncated,omitempty"`
}

// write writes what read got, after a note on lines dropped since after
// (not at the start, which the header tells), and flushes. It reports
// false once the client is gone.
func (lw *logWriter) write(read logRead, after int64) bool {
	b := lw.buf[:0]
	if read.dropped > 0 && after > 0 {
		b = lw.append(b, logLine{n: after + read.dropped, time: time.Now(), stream: "taskd",
			text: strconv.FormatInt(read.dropped, 10) + " lines were dropped here: the task wrote them faster than they were read, beyond its log bounds"})
	}
	for _, l := range read.lines {
		b = lw.append(b, l)
	}
	lw.buf = b
	return send(lw.w, lw.rc, b)
}

// send writes b (possibly nothing) to a stream's client and flushes it,
// within streamWriteTimeout. It reports false once the client is gone.
func send(w io.Writer, rc *http.ResponseController, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if len(b) > 0 {
		if _, err := w.Write(b); err != nil {
			return false
		}
	}
	return rc.Flush() == nil
}

const logTimeFormat = "2006-01-02T15:04:05.000000Z"

func (lw *logWriter) append(b []byte, l logLine) []byte {
	ts := l.time.UTC().Format(logTimeFormat)
	if !lw.jsonl {
		b = append(b, ts...)
		b = append(b, ' ')
		b = append(b, l.stream...)
		b = append(b, ' ')
		b = append(b, l.text...)
		return append(b, '\n')
	}
	j, err := json.Marshal(logJSON{N: l.n, Time: ts, Stream: l.stream, Line: l.text, Truncated: l.truncated})
	if err != nil {
		return b // a struct of strings always marshals
	}
	return append(append(b, j...), '\n')
}
