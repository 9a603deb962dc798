package main

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// The console is a small web page taskd serves at /console/ (-console=false
// turns it off): a paged list of tasks by state, app and name that follows
// changes, one task's details and output, and a cancel button. It is plain
// HTML, CSS and JavaScript embedded in the binary, and talks to the API
// with the bearer token the user enters, which it keeps in the tab's
// sessionStorage only.
//
// The list view follows changes through changesPath, a Server-Sent Events
// stream that says only that some task changed (a counter), which taskd
// coalesces: the page then reloads the one page it shows. A stream per
// visible task would need one connection each, and a browser opens at most
// six per host over HTTP/1.1; a stream of every task's change would carry
// tasks the reader may not see and as many events as the store has writes.
// The detail view follows its task through GET /v3/tasks/{guid}/events and
// its output through GET /v3/tasks/{guid}/logs?follow=true.

//go:embed console
var consoleFiles embed.FS

// changesPath is the console's stream of changes.
const changesPath = "/console/api/changes"

// consoleCSP lets the page load its own script and style and talk to its
// own origin, and nothing else: no inline script, no framing.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// mountConsole serves the console's files and its changes stream on h.
func mountConsole(h *httpadapter.Handler, feed *changeFeed, open *streams) {
	files, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the directory is embedded
	}
	static := http.StripPrefix("/console/", http.FileServerFS(files))
	h.Handle("GET /console/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", consoleCSP)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	}))
	h.Handle("GET /console", http.RedirectHandler("console/", http.StatusMovedPermanently))
	h.Handle("GET "+changesPath, changesHandler(h, feed, open))
}

// changeFeed counts the changes this instance hears of: its own commits
// (an observer), other instances' (the database listener, through the
// executor) and retention's deletions.
type changeFeed struct {
	mu sync.Mutex
	n  uint64
	// wake is closed at the next change, and made only when current hands
	// it out: most changes (three per task) have no console watching.
	wake chan struct{}
}

func newChangeFeed() *changeFeed { return &changeFeed{} }

// bump records a change. It never blocks for long: observers call it.
func (f *changeFeed) bump() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
}

// observe is a tasklife.Observer that bumps the feed.
func (f *changeFeed) observe(context.Context, tasklife.Change) { f.bump() }

// current returns the count and a channel closed at the next change.
func (f *changeFeed) current() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wake == nil {
		f.wake = make(chan struct{})
	}
	return f.n, f.wake
}

// changesHandler serves the changes stream: after "retry", an event
// "change" whose data is the count whenever it has moved, coalesced while
// the client reads, and a heartbeat comment when nothing happens.
func changesHandler(h *httpadapter.Handler, feed *changeFeed, open *streams) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		checks, cancel := context.WithTimeout(r.Context(), open.dbTimeout)
		_, ok := h.AuthenticateToRead(w, r.WithContext(checks))
		cancel()
		if !ok || !open.acquire(h, w, r) {
			return
		}
		defer open.release()
		// Before the first byte: a change the client could cause once it
		// has read it is after this count, and is sent.
		last, wake := feed.current()
		hdr := w.Header()
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		if !send(w, rc, []byte("retry: 1000\n\n")) {
			return
		}
		beat := time.NewTicker(httpadapter.DefaultHeartbeat)
		defer beat.Stop()
		for {
			select {
			case <-wake:
				var n uint64
				n, wake = feed.current()
				if n != last && !send(w, rc, []byte("event: change\ndata: "+strconv.FormatUint(n, 10)+"\n\n")) {
					return
				}
				last = n
			case <-beat.C:
				if !send(w, rc, []byte(": heartbeat\n\n")) {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	}
}
