package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// getLogs asks for a task's logs with query, and returns the response,
// whose body the caller reads and closes.
func (d *taskd) getLogs(guid, query string) *http.Response {
	d.t.Helper()
	req, err := http.NewRequest("GET", d.base+"/v3/tasks/"+guid+"/logs"+query, nil)
	require.NoError(d.t, err)
	req.Header.Set("Authorization", "bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(d.t, err)
	d.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// logsText returns the lines of a task's logs without their time.
func logsText(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for line := range strings.Lines(body) {
		_, rest, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		require.True(t, ok, "%q", line)
		out = append(out, rest)
	}
	return out
}

func TestLogsOfATask(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	created := d.create("echo hello; echo oops >&2; echo bye")
	d.await(created.GUID, "SUCCEEDED", 5*time.Second)

	resp := d.getLogs(created.GUID, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Empty(t, resp.Header.Get(logsHeader))
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	got := logsText(t, string(b))
	require.ElementsMatch(t, []string{"stdout hello", "stderr oops", "stdout bye"}, got, "stdout and stderr race")
	require.Less(t, indexOf(got, "stdout hello"), indexOf(got, "stdout bye"))
	_, err = time.Parse(logTimeFormat, strings.Fields(string(b))[0])
	require.NoError(t, err)

	resp = d.getLogs(created.GUID, "?format=jsonl")
	require.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	var lines []logJSON
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		var l logJSON
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		lines = append(lines, l)
	}
	require.Len(t, lines, 3)
	for i, l := range lines {
		require.EqualValues(t, i+1, l.N)
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestLogsChecks(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	created := d.create("echo hello")
	for _, tc := range []struct {
		name, path, token string
		status            int
		detail            string
	}{
		{"no token", "/v3/tasks/" + created.GUID + "/logs", "", 401, "Authentication error"},
		{"wrong token", "/v3/tasks/" + created.GUID + "/logs", "bearer nope", 401, "Invalid Auth Token"},
		{"unknown task", "/v3/tasks/no-such-task/logs", "bearer test-token", 404, "Task not found"},
		{"unknown parameter", "/v3/tasks/" + created.GUID + "/logs?tail=5", "bearer test-token", 400, "Unknown query parameter(s): 'tail'"},
		{"bad follow", "/v3/tasks/" + created.GUID + "/logs?follow=yes", "bearer test-token", 400, "follow must be false or true"},
		{"bad format", "/v3/tasks/" + created.GUID + "/logs?format=xml", "bearer test-token", 400, "format must be text or jsonl"},
	} {
		req, err := http.NewRequest("GET", d.base+tc.path, nil)
		require.NoError(t, err)
		if tc.token != "" {
			req.Header.Set("Authorization", tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, tc.status, resp.StatusCode, "%s: %s", tc.name, b)
		require.Contains(t, string(b), tc.detail, tc.name)
	}
}

func TestLogsFollowUntilTheTaskEnds(t *testing.T) {
	t.Parallel()
	// The follow outlives the read timeout and the request deadline.
	d := startTaskd(t, nil, "-max-running", "1", "-read-timeout", "1s")
	release := filepath.Join(t.TempDir(), "release")
	first := d.create("echo first; while [ ! -e " + release + " ]; do sleep 0.05; done")
	second := d.create("echo second; echo done")

	// The second has not run: this instance holds nothing for it yet.
	resp := d.getLogs(second.GUID, "")
	require.Equal(t, "none", resp.Header.Get(logsHeader))
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Empty(t, b)

	follow1 := bufio.NewReader(d.getLogs(first.GUID, "?follow=true").Body)
	resp = d.getLogs(second.GUID, "?follow=true")
	require.Equal(t, "none", resp.Header.Get(logsHeader))
	follow2 := bufio.NewReader(resp.Body)

	line, err := follow1.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, []string{"stdout first"}, logsText(t, line))
	d.await(first.GUID, "RUNNING", 5*time.Second)
	d.await(second.GUID, "PENDING", time.Second)
	require.NoError(t, os.WriteFile(release, nil, 0o644))

	rest, err := io.ReadAll(follow1)
	require.NoError(t, err, "the follow ends when the task's output does")
	require.Empty(t, rest)
	rest, err = io.ReadAll(follow2)
	require.NoError(t, err)
	require.Equal(t, []string{"stdout second", "stdout done"}, logsText(t, string(rest)))
	d.await(second.GUID, "SUCCEEDED", 5*time.Second)
}

func TestLogsFollowOfACanceledTask(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	created := d.create("echo hello; sleep 600")
	follow := bufio.NewReader(d.getLogs(created.GUID, "?follow=true&format=jsonl").Body)
	line, err := follow.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, `"line":"hello"`)
	d.requireCanceled(created.GUID)
	rest, err := io.ReadAll(follow)
	require.NoError(t, err)
	require.Empty(t, rest)
}

func TestLogsKeepWhatTheRateLimitLetThrough(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil, "-log-rate-limit", "10")
	created := d.create("echo 123456789; echo dropped; echo dropped")
	d.await(created.GUID, "SUCCEEDED", 5*time.Second)
	b, err := io.ReadAll(d.getLogs(created.GUID, "").Body)
	require.NoError(t, err)
	got := logsText(t, string(b))
	require.Equal(t, "stdout 123456789", got[0])
	require.NotContains(t, got, "stdout dropped")
	require.Contains(t, string(b), "taskd app instance exceeded log rate limit (10 bytes/sec): dropped 1 lines, 8 bytes")
}

func TestStreamsHaveNoRequestDeadline(t *testing.T) {
	t.Parallel()
	for target, stream := range map[string]bool{
		"/v3/tasks/x/logs?follow=true":  true,
		changesPath:                     true,
		"/v3/tasks/x/logs":              false,
		"/v3/tasks/x/logs?follow=false": false,
		"/v3/tasks/x":                   false,
	} {
		var has bool
		h := withDeadline(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			_, has = r.Context().Deadline()
		}), time.Second)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
		require.Equal(t, !stream, has, target)
	}
}
