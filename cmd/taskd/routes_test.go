package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

// storeOnly creates tasks without running them: these tests are about the
// HTTP surface.
type storeOnly struct{ svc *tasklife.Service }

func (s storeOnly) Create(ctx context.Context, nt tasklife.NewTask) (*tasklife.Task, error) {
	return s.svc.Create(ctx, nt)
}

func newTestHandler(t *testing.T) http.Handler {
	t.Helper()
	svc := tasklife.New(memstore.New())
	return newHandler(svc, storeOnly{svc}, "secret", "http://taskd.test", slog.New(slog.DiscardHandler))
}

type cfError struct {
	Errors []struct {
		Detail string `json:"detail"`
		Title  string `json:"title"`
		Code   int    `json:"code"`
	} `json:"errors"`
}

func TestCreateErrors(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	for _, tc := range []struct {
		name   string
		auth   string
		body   string
		status int
		title  string
		code   int
		detail string
	}{
		{"no credentials", "", `{"command":"true"}`, 401, "CF-NotAuthenticated", 10002, "Authentication error"},
		{"wrong token", "bearer nope", `{"command":"true"}`, 401, "CF-InvalidAuthToken", 1000, "Invalid Auth Token"},
		{"malformed", "", `{"command":`, 400, "CF-MessageParseError", 1001, "Request invalid due to parse error: invalid request body"},
		{"array", "", `[]`, 400, "CF-MessageParseError", 1001, "Request invalid due to parse error: invalid request body"},
		{"string", "", `"true"`, 400, "CF-MessageParseError", 1001, "Request invalid due to parse error: invalid request body"},
		{"two documents", "", `{"command":"true"} {}`, 400, "CF-MessageParseError", 1001, "Request invalid due to parse error: invalid request body"},
		{"empty body", "", ``, 422, "CF-UnprocessableEntity", 10008, "No command or template provided"},
		{"null", "", `null`, 422, "CF-UnprocessableEntity", 10008, "No command or template provided"},
		{"no command", "", `{"name":"x"}`, 422, "CF-UnprocessableEntity", 10008, "No command or template provided"},
		{"empty command", "", `{"command":""}`, 422, "CF-UnprocessableEntity", 10008, "No command or template provided"},
		{"null command", "", `{"command":null}`, 422, "CF-UnprocessableEntity", 10008, "No command or template provided"},
		{"unknown keys", "", `{"foo":1,"command":"true","bar":{}}`, 422, "CF-UnprocessableEntity", 10008, "Unknown field(s): 'foo', 'bar'"},
		{"unknown metadata key", "", `{"command":"true","metadata":{"labels":{},"owner":"x"}}`, 422, "CF-UnprocessableEntity", 10008, "Metadata has unexpected field(s): 'owner'"},
		{"metadata not an object", "", `{"command":"true","metadata":[]}`, 422, "CF-UnprocessableEntity", 10008, "Metadata must be an object"},
		{"command not a string", "", `{"command":1}`, 422, "CF-UnprocessableEntity", 10008, "Command must be a string"},
		{"name not a string", "", `{"command":"true","name":true}`, 422, "CF-UnprocessableEntity", 10008, "Name must be a string"},
		{"fractional memory", "", `{"command":"true","memory_in_mb":1.5}`, 422, "CF-UnprocessableEntity", 10008, "Memory in mb must be an integer"},
		{"memory as string", "", `{"command":"true","memory_in_mb":"5"}`, 422, "CF-UnprocessableEntity", 10008, "Memory in mb must be an integer"},
		{"negative memory", "", `{"command":"true","memory_in_mb":-1}`, 422, "CF-UnprocessableEntity", 10008, "Memory in mb must be 0 or more"},
		{"negative disk", "", `{"command":"true","disk_in_mb":-1}`, 422, "CF-UnprocessableEntity", 10008, "Disk in mb must be 0 or more"},
		{"log rate as string", "", `{"command":"true","log_rate_limit_in_bytes_per_second":"5"}`, 422, "CF-UnprocessableEntity", 10008, "Log rate limit in bytes per second must be an integer"},
		{"log rate below -1", "", `{"command":"true","log_rate_limit_in_bytes_per_second":-2}`, 422, "CF-UnprocessableEntity", 10008, "Log rate limit in bytes per second must be -1 (unlimited) or more"},
		{"label not a string", "", `{"command":"true","metadata":{"labels":{"a":1}}}`, 422, "CF-UnprocessableEntity", 10008, "Metadata label value error: 'a' must be a string or null"},
		{"reserved annotation", "", `{"command":"true","metadata":{"annotations":{"taskd.tasklife.dev/instance":"b"}}}`, 422, "CF-UnprocessableEntity", 10008, "Metadata annotations key error: prefix 'taskd.tasklife.dev' is reserved"},
		{"NUL in command", "", `{"command":"a\u0000b"}`, 422, "CF-UnprocessableEntity", 10008, "Command must not contain NUL bytes"},
		{"duplicate command", "", `{"command":"echo a","name":"n","command":"echo b","command":"c","name":"m"}`, 422, "CF-UnprocessableEntity", 10008, "Duplicate field(s): 'command', 'name'"},
		{"duplicate metadata key", "", `{"command":"true","metadata":{"labels":{},"labels":{"a":"b"}}}`, 422, "CF-UnprocessableEntity", 10008, "Duplicate field(s) in metadata: 'labels'"},
		{"duplicate label", "", `{"command":"true","metadata":{"labels":{"a":"x","a":"y"}}}`, 422, "CF-UnprocessableEntity", 10008, "Duplicate field(s) in labels: 'a'"},
		{"duplicate annotation", "", `{"command":"true","metadata":{"annotations":{"a":"x","a":"y"}}}`, 422, "CF-UnprocessableEntity", 10008, "Duplicate field(s) in annotations: 'a'"},
		{"invalid UTF-8 in command", "", "{\"command\":\"echo \xff\"}", 400, "CF-MessageParseError", 1001, "Request invalid due to parse error: invalid request body: not UTF-8"},
		{"invalid UTF-8 in a key", "", "{\"command\":\"true\",\"\xc3\":1}", 400, "CF-MessageParseError", 1001, "Request invalid due to parse error: invalid request body: not UTF-8"},
		{"lone high surrogate", "", `{"command":"echo \ud800"}`, 400, "CF-MessageParseError", 1001, "Request invalid due to parse error: invalid request body: not UTF-8"},
		{"lone low surrogate", "", `{"command":"echo \udc00x"}`, 400, "CF-MessageParseError", 1001, "Request invalid due to parse error: invalid request body: not UTF-8"},
		{"high surrogate then not a low one", "", `{"command":"echo \ud800\u0041"}`, 400, "CF-MessageParseError", 1001, "Request invalid due to parse error: invalid request body: not UTF-8"},
		{"surrogate in a label", "", `{"command":"true","metadata":{"labels":{"a":"\udfff"}}}`, 400, "CF-MessageParseError", 1001, "Request invalid due to parse error: invalid request body: not UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest("POST", "/v3/apps/app-1/tasks", strings.NewReader(tc.body))
			switch tc.auth {
			case "":
				if tc.status != 401 {
					req.Header.Set("Authorization", "bearer secret")
				}
			default:
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			var got cfError
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), rec.Body.String())
			require.Len(t, got.Errors, 1)
			require.Equal(t, tc.title, got.Errors[0].Title)
			require.Equal(t, tc.code, got.Errors[0].Code)
			require.Equal(t, tc.detail, got.Errors[0].Detail)
		})
	}
}

// countingReader is an endless body that counts what was read of it.
type countingReader struct{ n atomic.Int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	c.n.Add(int64(len(p)))
	return len(p), nil
}

func TestCreateRefusesLargeBodiesUnread(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	for _, tc := range []struct {
		name          string
		contentLength int64 // -1: unknown (chunked)
		maxRead       int64
	}{
		{"declared too large", httpadapter.MaxBodyBytes + 1, 0},
		{"streamed without a length", -1, httpadapter.MaxBodyBytes + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := &countingReader{}
			req := httptest.NewRequest("POST", "/v3/apps/app-1/tasks", io.NopCloser(body))
			req.ContentLength = tc.contentLength
			req.Header.Set("Authorization", "bearer secret")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
			require.JSONEq(t, `{"errors":[{"detail":"Request body is larger than 1048576 bytes","title":"CF-RequestTooLarge","code":1003}]}`, rec.Body.String())
			require.LessOrEqual(t, body.n.Load(), tc.maxRead)
		})
	}
}

func TestCreateAccepted(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	req := httptest.NewRequest("POST", "/v3/apps/app-1/tasks", strings.NewReader(
		`{"command":"make test","name":"migrate","memory_in_mb":256,"disk_in_mb":1024,"metadata":{"labels":{"team":"a"},"annotations":{"note":"b"}}}`))
	req.Header.Set("Authorization", "bearer secret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var got struct {
		GUID       string             `json:"guid"`
		Name       string             `json:"name"`
		Command    string             `json:"command"`
		State      string             `json:"state"`
		MemoryInMB int64              `json:"memory_in_mb"`
		DiskInMB   *int64             `json:"disk_in_mb"`
		Metadata   map[string]any     `json:"metadata"`
		Links      map[string]any     `json:"links"`
		Rel        map[string]any     `json:"relationships"`
		Result     map[string]*string `json:"result"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Equal(t, "migrate", got.Name)
	require.Equal(t, "make test", got.Command)
	require.Equal(t, "PENDING", got.State)
	require.Equal(t, int64(256), got.MemoryInMB)
	require.Equal(t, int64(1024), *got.DiskInMB)
	require.Equal(t, map[string]any{"labels": map[string]any{"team": "a"}, "annotations": map[string]any{"note": "b"}}, got.Metadata)
	require.Equal(t, map[string]any{"app": map[string]any{"data": map[string]any{"guid": "app-1"}}}, got.Rel)
	require.Equal(t, map[string]any{"href": "http://taskd.test/v3/tasks/" + got.GUID}, got.Links["self"])
}

// TestCreateKeepsWhatWasSent: a surrogate pair, an escaped backslash before
// "u" and UTF-8 text reach the command as sent.
func TestCreateKeepsWhatWasSent(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	req := httptest.NewRequest("POST", "/v3/apps/app-1/tasks", strings.NewReader(`{"command":"echo \ud83d\ude00 \\ud800 \u00e9 é"}`))
	req.Header.Set("Authorization", "bearer secret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var got struct{ Command string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Equal(t, "echo \U0001F600 \\ud800 é é", got.Command)
}

func TestRootDocumentAndOtherRoutes(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	for _, tc := range []struct {
		method, path string
		auth         bool
		status       int
		body         string
	}{
		{"GET", "/", false, 200, `{"links":{"self":{"href":"http://taskd.test"},"cloud_controller_v3":{"href":"http://taskd.test/v3","meta":{"version":"3.181.0"}},"login":{"href":"http://taskd.test"},"uaa":{"href":"http://taskd.test"}}}`},
		{"GET", "/nope", true, 404, `{"errors":[{"detail":"Unknown request","title":"CF-NotFound","code":10000}]}`},
		{"GET", "/v3/apps/app-1/tasks", false, 401, `{"errors":[{"detail":"Authentication error","title":"CF-NotAuthenticated","code":10002}]}`},
		{"GET", "/v3/tasks/missing", true, 404, `{"errors":[{"detail":"Task not found","title":"CF-ResourceNotFound","code":10010}]}`},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.auth {
				req.Header.Set("Authorization", "bearer secret")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			require.JSONEq(t, tc.body, rec.Body.String())
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		})
	}
}

func TestCreateDuringShutdown(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	e := newExecutor(svc, slog.New(slog.DiscardHandler), time.Second, 1)
	require.NoError(t, e.Shutdown(context.Background()))
	h := newHandler(svc, e, "secret", "http://taskd.test", slog.New(slog.DiscardHandler))
	req := httptest.NewRequest("POST", "/v3/apps/app-1/tasks", strings.NewReader(`{"command":"true"}`))
	req.Header.Set("Authorization", "bearer secret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.JSONEq(t, `{"errors":[{"detail":"taskd is shutting down and accepts no new tasks","title":"CF-ServiceUnavailable","code":10015}]}`, rec.Body.String())
}
