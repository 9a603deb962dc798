package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"github.com/tasklife/tasklife/httpadapter"
)

// maxHeaderBytes bounds a request's headers (net/http allows 1 MiB, far
// beyond what a CF client sends); more is answered 431.
const maxHeaderBytes = 32 << 10

// newServer returns taskd's HTTP server for h, bounded so that slow or idle
// clients cannot hold connections, and so descriptors, for long: a request
// must arrive whole within the read timeout, an idle connection is closed
// after the idle timeout, and every request's store calls end within the
// database timeout (503 then).
func newServer(h http.Handler, l limits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           closeUnread(withDeadline(h, l.dbTimeout)),
		ReadHeaderTimeout: min(l.readTimeout, 10*time.Second),
		ReadTimeout:       l.readTimeout,
		// Counted from the end of the headers: the body, the store, the
		// answer.
		WriteTimeout:   l.readTimeout + l.dbTimeout,
		IdleTimeout:    l.idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// boundListener holds at most n connections at once (the rest wait in the
// kernel's backlog, costing taskd nothing) and has the errors net/http
// writes by itself answered in the CF envelope.
func boundListener(ln net.Listener, n int) net.Listener {
	return netutil.LimitListener(cfErrorListener{ln}, n)
}

// withDeadline gives every request's context the database timeout: a store
// that hangs makes the request fail with the context's error, which the
// adapter answers 503 CF-ServiceUnavailable. A request that waits for a
// change (a long poll, an event stream) gets the adapter's maximum wait
// on top; it extends its own write deadline.
func withDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStream(r) {
			// It lives until its task ends or its client leaves, and
			// bounds its checks itself (logsroute.go).
			h.ServeHTTP(w, r)
			return
		}
		d := d
		if r.Method == http.MethodGet && (r.URL.Query().Has("wait") || strings.HasSuffix(r.URL.Path, "/events")) {
			d += httpadapter.DefaultMaxWait
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// closeUnread closes the connection after answering a request whose body
// the handler did not read to its end (a refusal before the body, say).
// Otherwise net/http reads up to 256 KiB of the body before it writes the
// answer, and again after: a client that declares a body and never sends
// it would get no answer, not even a 401, and keep the connection until the
// read timeout.
func closeUnread(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		body := &watchedBody{ReadCloser: r.Body}
		r.Body = body
		cw := &closingWriter{ResponseWriter: w, body: body}
		h.ServeHTTP(cw, r)
		if body.eof.Load() {
			return
		}
		if !cw.wrote {
			w.Header().Set("Connection", "close")
		}
		// The answer is buffered, and goes out before net/http looks at
		// the body again; this read deadline, already past, makes that
		// look end at once.
		_ = http.NewResponseController(w).SetReadDeadline(time.Unix(1, 0))
	})
}

// watchedBody records whether its reader reached the end.
type watchedBody struct {
	io.ReadCloser
	eof atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

// closingWriter asks for the connection to be closed when the answer starts
// before the body was read to its end.
type closingWriter struct {
	http.ResponseWriter
	body  *watchedBody
	wrote bool
}

func (w *closingWriter) WriteHeader(code int) {
	if !w.wrote && !w.body.eof.Load() {
		w.Header().Set("Connection", "close")
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *closingWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *closingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
