package httpadapter_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// sseEvent is one event of a stream.
type sseEvent struct {
	id, event, data string
}

// stream is an open event stream over a real connection.
type stream struct {
	res    *http.Response
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

func openStream(t *testing.T, srv *httptest.Server, guid, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v3/tasks/"+guid+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "bearer good")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	s := &stream{res: res, lines: bufio.NewScanner(res.Body), cancel: cancel}
	s.lines.Buffer(nil, 1<<20)
	t.Cleanup(s.close)
	return s
}

// close drops the connection, as a network failure would.
func (s *stream) close() {
	s.cancel()
	_ = s.res.Body.Close()
}

// next returns the next event, skipping comments and retry fields; ok is
// false when the stream ended.
func (s *stream) next(t *testing.T) (ev sseEvent, ok bool) {
	t.Helper()
	for s.lines.Scan() {
		line := s.lines.Text()
		switch {
		case line == "":
			if ev.event != "" {
				return ev, true
			}
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
	return sseEvent{}, false
}

func newServer(t *testing.T, b *bundle) *httptest.Server {
	srv := httptest.NewServer(b.handler)
	t.Cleanup(srv.Close)
	return srv
}

// The test: a stream dropped and resumed with Last-Event-ID
// delivers every change once.
func TestEventsResumeDeliversEveryChangeOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	srv := newServer(t, b)
	ctx := context.Background()
	task := b.create(t, "app", tasklife.StatePending)
	var got []string
	record := func(s *stream) *tasklife.Task {
		ev, ok := s.next(t)
		require.True(t, ok, "the stream ended early")
		require.Equal(t, "task", ev.event)
		got = append(got, ev.id)
		cur, err := b.svc.Get(ctx, task.GUID)
		require.NoError(t, err)
		requireTask(t, ev.data, cur, srv.URL, true)
		return cur
	}

	s := openStream(t, srv, task.GUID, "")
	record(s) // version 1, as it is
	_, err := b.svc.Start(ctx, task.GUID)
	require.NoError(t, err)
	last := record(s) // 2
	s.close()
	require.Eventually(t, func() bool { return httpadapter.OpenWaits(b.handler) == 0 }, 10*time.Second, time.Millisecond)

	_, err = b.svc.Cancel(ctx, task.GUID) // 3, while nobody listens
	require.NoError(t, err)
	s = openStream(t, srv, task.GUID, strconv.FormatInt(last.Version, 10))
	record(s) // 3, once
	_, err = b.svc.Canceled(ctx, task.GUID)
	require.NoError(t, err)
	record(s) // 4, the end
	_, ok := s.next(t)
	require.False(t, ok, "the stream ends once the task has ended")
	require.Equal(t, []string{"1", "2", "3", "4"}, got)
}

// Heartbeats keep a quiet stream alive; a caller who may no longer read the
// task sees the stream end before the next event.
func TestEventsHeartbeatAndRevokedRead(t *testing.T) {
	t.Parallel()
	var readTask atomic.Bool
	readTask.Store(true)
	b := setup(t, revocable{grants: all, readTask: &readTask}, httpadapter.WithHeartbeat(5*time.Millisecond))
	srv := newServer(t, b)
	task := b.create(t, "app", tasklife.StateRunning)
	s := openStream(t, srv, task.GUID, strconv.FormatInt(task.Version, 10))
	beats := 0
	for beats < 2 {
		require.True(t, s.lines.Scan())
		if s.lines.Text() == ": heartbeat" {
			beats++
		}
	}
	readTask.Store(false)
	_, err := b.svc.Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	_, ok := s.next(t)
	require.False(t, ok, "no event for a task the caller may not read")
}

func TestEventsRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, all, httpadapter.WithMaxOpenWaits(1))
	srv := newServer(t, b)
	task := b.create(t, "app", tasklife.StateRunning)
	path := "/v3/tasks/" + task.GUID + "/events"
	r := b.do(t, http.MethodGet, path, "")
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = setup(t, grants{read: true}).do(t, http.MethodGet, path, "good")
	require.Equal(t, bodyTaskNotFound, r.body)
	r = b.do(t, http.MethodGet, "/v3/tasks/nope/events", "good")
	require.Equal(t, bodyTaskNotFound, r.body)
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "bearer good")
	req.Header.Set("Last-Event-ID", "x")
	rec := httptest.NewRecorder()
	b.validate.ServeHTTP(rec, req)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, envelope("The request is invalid: Last-Event-ID must be an id this stream sent", "CF-InvalidRequest", 10004), rec.Body.String())

	s := openStream(t, srv, task.GUID, "")
	_, ok := s.next(t)
	require.True(t, ok)
	r = b.do(t, http.MethodGet, path, "good")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, "1", r.header.Get("Retry-After"))
}

// revocable is grants whose PermReadTask can be taken away.
type revocable struct {
	grants
	readTask *atomic.Bool
}

func (g revocable) Authorize(ctx context.Context, p httpadapter.Principal, perm httpadapter.Permission, task *tasklife.Task) (bool, error) {
	if perm == httpadapter.PermReadTask {
		return g.readTask.Load(), nil
	}
	return g.grants.Authorize(ctx, p, perm, task)
}
