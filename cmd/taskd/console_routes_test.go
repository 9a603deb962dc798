package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

// picky is an Authorizer that refuses one permission, for any task.
type picky struct{ refuse httpadapter.Permission }

func (picky) Authenticate(r *http.Request) (httpadapter.Principal, error) {
	if r.Header.Get("Authorization") == "" {
		return nil, httpadapter.ErrNoCredentials
	}
	return "someone", nil
}

func (p picky) Authorize(_ context.Context, _ httpadapter.Principal, perm httpadapter.Permission, _ *tasklife.Task) (bool, error) {
	return perm != p.refuse, nil
}

// serveRoutes serves the logs route and the console over auth, on svc.
func serveRoutes(t *testing.T, svc *tasklife.Service, auth httpadapter.Authorizer, feed *changeFeed) *httptest.Server {
	t.Helper()
	h := httpadapter.New(svc, auth, httpadapter.WithLogger(slog.New(slog.DiscardHandler)))
	open := newStreams(4, time.Minute)
	h.Handle("GET /v3/tasks/{guid}/logs", logsHandler(h, svc, newTaskLogs(logsConfig{taskLines: 10, taskBytes: 1 << 10, total: 1 << 20}), open))
	mountConsole(h, feed, open)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "bearer x")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestLogsAreAsSecretAsTheCommand(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	created, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "a", Command: "echo s3cret"})
	require.NoError(t, err)
	for _, tc := range []struct {
		refuse httpadapter.Permission
		status int
		detail string
	}{
		{httpadapter.PermReadSecrets, 403, "You are not authorized to perform the requested action"},
		{httpadapter.PermReadTask, 404, "Task not found"},
		{httpadapter.PermRead, 403, "You are not authorized"},
	} {
		srv := serveRoutes(t, svc, picky{tc.refuse}, newChangeFeed())
		resp, body := get(t, srv.URL+"/v3/tasks/"+created.GUID+"/logs")
		require.Equal(t, tc.status, resp.StatusCode, "refusing %v: %s", tc.refuse, body)
		require.Contains(t, body, tc.detail)
	}
}

func TestConsoleIsServedWithAStrictPolicy(t *testing.T) {
	t.Parallel()
	srv := serveRoutes(t, tasklife.New(memstore.New()), httpadapter.InsecureAllowAll(), newChangeFeed())
	for path, typ := range map[string]string{"/console/": "text/html", "/console/console.js": "text/javascript", "/console/console.css": "text/css"} {
		resp, body := get(t, srv.URL+path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, resp.Header.Get("Content-Type"), typ, path)
		require.Equal(t, consoleCSP, resp.Header.Get("Content-Security-Policy"), path)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		require.NotEmpty(t, body)
	}
	_, page := get(t, srv.URL+"/console/")
	require.NotContains(t, page, "<script>", "the policy forbids inline scripts")
	resp, body := get(t, srv.URL+"/console/nope.js")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
}

func TestConsoleCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil, "-console=false")
	status, b := d.do("GET", "/console/", "")
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, string(b), "CF-NotFound")
	require.Equal(t, http.StatusOK, func() int { s, _ := d.do("GET", "/v3/tasks", ""); return s }())
}

func TestChangesStream(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	feed := newChangeFeed()
	svc.Observe(feed.observe)
	srv := serveRoutes(t, svc, picky{}, feed)

	resp, body := func() (*http.Response, string) {
		resp, err := http.Get(srv.URL + changesPath)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+changesPath, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "bearer x")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	r := bufio.NewReader(resp.Body)
	event := func() string {
		t.Helper()
		var b strings.Builder
		for {
			line, err := r.ReadString('\n')
			require.NoError(t, err)
			if line == "\n" {
				return b.String()
			}
			b.WriteString(line)
		}
	}
	require.Equal(t, "retry: 1000\n", event())
	created, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "a", Command: "true"})
	require.NoError(t, err)
	require.Equal(t, "event: change\ndata: 1\n", event())
	_, err = svc.Cancel(context.Background(), created.GUID)
	require.NoError(t, err)
	require.Equal(t, "event: change\ndata: 2\n", event())
}

func TestBannerNamesTheConsole(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		var b strings.Builder
		printBanner(&b, "http://127.0.0.1:8080", &config{token: "t", generated: true, console: on}, "in-memory store")
		require.Equal(t, on, strings.Contains(b.String(), "\nor open the console: http://127.0.0.1:8080/console/\n"), b.String())
	}
}
