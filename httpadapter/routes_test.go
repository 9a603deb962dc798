package httpadapter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

func TestCancelRoute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		state   tasklife.State
		status  int
		body    string
		changes int64
	}{
		{state: tasklife.StatePending, status: 202, changes: 1},
		{state: tasklife.StateRunning, status: 202, changes: 1},
		{state: tasklife.StateCanceling, status: 202}, // idempotent: no write, no observer
		{state: tasklife.StateSucceeded, status: 422, body: bodyUnprocessable("Task state is SUCCEEDED and therefore cannot be canceled")},
		{state: tasklife.StateFailed, status: 422, body: bodyUnprocessable("Task state is FAILED and therefore cannot be canceled")},
	}
	for _, tt := range tests {
		for _, route := range []struct{ method, suffix string }{{http.MethodPost, "/actions/cancel"}, {http.MethodPut, "/cancel"}} {
			t.Run(fmt.Sprint(tt.state, " ", route.method), func(t *testing.T) {
				t.Parallel()
				b := setup(t, all)
				task := b.create(t, "app", tt.state)
				before := b.snapshot(t)
				res := b.do(t, route.method, "/v3/tasks/"+task.GUID+route.suffix, "good")
				require.Equal(t, tt.status, res.status, res.body)
				require.Equal(t, tt.changes, b.changes.Load())
				if tt.body != "" {
					require.Equal(t, tt.body, res.body)
					require.Equal(t, before, b.snapshot(t))
					return
				}
				after := b.snapshot(t)[0]
				require.Equal(t, tasklife.StateCanceling, after.State)
				if tt.changes == 0 {
					require.Equal(t, before[0], after, "a repeated cancel wrote")
				}
				requireTask(t, res.body, after, "http://example.com", true)
			})
		}
	}
}

func TestCancelUnknownTask(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	res := b.do(t, http.MethodPost, "/v3/tasks/no-such-task/actions/cancel", "good")
	require.Equal(t, response{404, nil, bodyTaskNotFound}, strip(res))
}

func TestGetRoute(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	task := b.create(t, "app", tasklife.StateRunning)
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{path: "/v3/tasks/" + task.GUID, status: 200},
		{path: "/v3/tasks/no-such-task", status: 404, body: bodyTaskNotFound},
		{path: "/v3/tasks/" + task.GUID + "/", status: 404, body: bodyUnknownRequest},
		{path: "/v3/tasks/a%2Fb", status: 404, body: bodyTaskNotFound},
		{path: "/v3/tasks/%2F", status: 404, body: bodyUnknownRequest}, // ServeMux takes a lone %2F for a trailing slash
	}
	for _, tt := range tests {
		res := b.do(t, http.MethodGet, tt.path, "good")
		require.Equal(t, tt.status, res.status, tt.path)
		if tt.body != "" {
			require.Equal(t, tt.body, res.body, tt.path)
			continue
		}
		requireTask(t, res.body, task, "http://example.com", true)
	}
}

// TestRouting covers what no route claims: unknown paths under the mount,
// unclean paths (ServeMux would redirect them), wrong methods.
func TestRouting(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	tests := []struct {
		method, path string
		status       int
		allow        string
		body         string
	}{
		{method: "GET", path: "/", status: 404, body: bodyUnknownRequest},
		{method: "GET", path: "/v3", status: 404, body: bodyUnknownRequest},
		{method: "GET", path: "/v3/apps", status: 404, body: bodyUnknownRequest},
		{method: "GET", path: "/v3/tasks/", status: 404, body: bodyUnknownRequest},
		{method: "GET", path: "/v3/tasks/x/actions", status: 404, body: bodyUnknownRequest},
		{method: "GET", path: "/v3//tasks", status: 404, body: bodyUnknownRequest},
		{method: "GET", path: "/v3/./tasks", status: 404, body: bodyUnknownRequest},
		{method: "GET", path: "/v3/apps/../tasks", status: 404, body: bodyUnknownRequest},
		{method: "POST", path: "/nope", status: 404, body: bodyUnknownRequest},
		{method: "DELETE", path: "/v3/tasks/x", status: 405, allow: "GET, HEAD, PATCH", body: bodyMethodNotAllowed},
		{method: "POST", path: "/v3/tasks/x", status: 405, allow: "GET, HEAD, PATCH", body: bodyMethodNotAllowed},
		{method: "GET", path: "/v3/tasks/x/actions/cancel", status: 405, allow: "POST", body: bodyMethodNotAllowed},
		{method: "POST", path: "/v3/tasks/x/cancel", status: 405, allow: "PUT", body: bodyMethodNotAllowed},
		{method: "PATCH", path: "/v3/tasks", status: 405, allow: "GET, HEAD", body: bodyMethodNotAllowed},
		{method: "POST", path: "/v3/apps/x/tasks", status: 405, allow: "GET, HEAD", body: bodyMethodNotAllowed},
		{method: "BREW", path: "/v3/tasks", status: 405, allow: "GET, HEAD", body: bodyMethodNotAllowed},
	}
	for _, tt := range tests {
		res := b.do(t, tt.method, tt.path, "good")
		require.Equal(t, tt.status, res.status, "%s %s", tt.method, tt.path)
		require.Equal(t, tt.body, res.body, "%s %s", tt.method, tt.path)
		require.Equal(t, tt.allow, res.header.Get("Allow"), "%s %s", tt.method, tt.path)
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	task := b.create(t, "app", tasklife.StateRunning)
	res := b.do(t, http.MethodHead, "/v3/tasks/"+task.GUID, "good")
	require.Equal(t, http.StatusOK, res.status)
}

// failingStore answers every call with err, to test 503 and 500.
type failingStore struct {
	*memstore.Store
	err error
}

func (s failingStore) Get(context.Context, string) (*tasklife.Task, error) { return nil, s.err }
func (s failingStore) List(context.Context, tasklife.ListQuery) (*tasklife.Page, error) {
	return nil, s.err
}

func (s failingStore) Transition(context.Context, tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	return tasklife.TransitionResult{}, s.err
}

func TestStoreFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{name: "unavailable", err: fmt.Errorf("dial tcp: refused: %w", tasklife.ErrUnavailable), status: 503, body: bodyUnavailable},
		{name: "unknown", err: errors.New("pq: relation \"tasks\" does not exist at 10.0.0.7"), status: 500, body: bodyUnknownError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			svc := tasklife.New(failingStore{memstore.New(), tt.err})
			h := validating(t, httpadapter.New(svc, all, httpadapter.WithLogger(logger)))
			for _, req := range []struct{ method, path string }{
				{"GET", "/v3/tasks/x"}, {"POST", "/v3/tasks/x/actions/cancel"}, {"PUT", "/v3/tasks/x/cancel"},
				{"GET", "/v3/tasks"}, {"GET", "/v3/apps/a/tasks"},
			} {
				res := serve(h, req.method, req.path, "good")
				require.Equal(t, tt.status, res.status, req.path)
				require.Equal(t, tt.body, res.body, req.path)
			}
			if tt.status == 500 {
				require.Contains(t, logs.String(), "does not exist at 10.0.0.7", "the real error is logged")
			} else {
				require.Empty(t, logs.String())
			}
		})
	}
}

// panicky panics in the hook named by where.
type panicky struct {
	grants
	where httpadapter.Permission // 0: Authenticate
}

func (p panicky) Authenticate(r *http.Request) (httpadapter.Principal, error) {
	if p.where == 0 {
		panic("authenticate exploded")
	}
	return p.grants.Authenticate(r)
}

func (p panicky) Authorize(ctx context.Context, pr httpadapter.Principal, perm httpadapter.Permission, t *tasklife.Task) (bool, error) {
	if perm == p.where {
		panic(fmt.Sprint(perm, " exploded"))
	}
	return p.grants.Authorize(ctx, pr, perm, t)
}

func TestPanickingHookIsA500(t *testing.T) {
	t.Parallel()
	for _, where := range []httpadapter.Permission{0, httpadapter.PermRead, httpadapter.PermWrite, httpadapter.PermReadTask, httpadapter.PermCancelTask, httpadapter.PermReadSecrets} {
		t.Run(where.String(), func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			b := setup(t, panicky{all, where}, httpadapter.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			task := b.create(t, "app", tasklife.StateRunning)
			before := b.snapshot(t)
			got := map[int]int{}
			for _, req := range []struct{ method, path string }{
				{"GET", "/v3/tasks/" + task.GUID}, {"POST", "/v3/tasks/" + task.GUID + "/actions/cancel"},
				{"GET", "/v3/tasks"}, {"GET", "/v3/apps/app/tasks"},
			} {
				res := b.do(t, req.method, req.path, "good")
				got[res.status]++
				if res.status == 500 {
					require.Equal(t, bodyUnknownError, res.body)
				}
			}
			require.NotZero(t, got[500], "no request reached the panicking hook")
			require.Contains(t, logs.String(), "exploded")
			switch where {
			case httpadapter.PermRead, httpadapter.PermReadSecrets:
				// The cancel asks neither, and goes through.
			default:
				require.Equal(t, before, b.snapshot(t), "a cancel whose hook panicked changed the store")
			}
		})
	}
}

func TestPanicOverRealServerKeepsServing(t *testing.T) {
	t.Parallel()
	b := setup(t, panicky{all, httpadapter.PermReadTask}, httpadapter.WithLogger(slog.New(slog.DiscardHandler)))
	task := b.create(t, "app", tasklife.StateRunning)
	srv := httptest.NewServer(b.validate)
	defer srv.Close()
	for range 3 {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/v3/tasks/"+task.GUID, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "bearer good")
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusInternalServerError, res.StatusCode)
		require.Equal(t, bodyUnknownError, string(drain(t, res.Body)))
	}
}

// TestParallelCancels: many clients cancel one RUNNING task at once. All
// get 202 and the CANCELING task; the store is written once and the
// observer called once.
func TestParallelCancels(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	task := b.create(t, "app", tasklife.StateRunning)
	const n = 64
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([]response, n)
	for i := range n {
		wg.Go(func() {
			<-start
			path := "/v3/tasks/" + task.GUID + "/actions/cancel"
			method := http.MethodPost
			if i%2 == 1 {
				path, method = "/v3/tasks/"+task.GUID+"/cancel", http.MethodPut
			}
			results[i] = serve(b.validate, method, path, "good")
		})
	}
	close(start)
	wg.Wait()
	after := b.snapshot(t)[0]
	require.Equal(t, tasklife.StateCanceling, after.State)
	require.Equal(t, task.Version+1, after.Version, "one write")
	require.EqualValues(t, 1, b.changes.Load(), "one observer call")
	for _, res := range results {
		require.Equal(t, http.StatusAccepted, res.status)
		requireTask(t, res.body, after, "http://example.com", true)
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	custom := &httpadapter.Error{Status: 418, Title: "CF-Teapot", Code: 4242, Detail: "short and stout"}
	tests := []struct {
		name   string
		err    error
		status int
		body   string
		logged bool
	}{
		{name: "*Error", err: custom, status: 418, body: envelope("short and stout", "CF-Teapot", 4242)},
		{name: "wrapped *Error", err: fmt.Errorf("ctx: %w", custom), status: 418, body: envelope("short and stout", "CF-Teapot", 4242)},
		{name: "no credentials", err: httpadapter.ErrNoCredentials, status: 401, body: bodyNotAuthenticated},
		{name: "bad credentials", err: fmt.Errorf("jwt expired: %w", httpadapter.ErrBadCredentials), status: 401, body: bodyInvalidToken},
		{name: "not found", err: tasklife.ErrNotFound, status: 404, body: bodyTaskNotFound},
		{name: "transition", err: &tasklife.TransitionError{GUID: "g", Event: tasklife.EventCancel, State: tasklife.StateFailed}, status: 422,
			body: bodyUnprocessable("Task state is FAILED and therefore cannot be canceled")},
		{name: "bare invalid transition", err: tasklife.ErrInvalidTransition, status: 422, body: bodyUnprocessable("The task cannot change to the requested state")},
		{name: "input", err: &tasklife.InputError{Field: "memory_in_mb", Reason: "must be 0 or more"}, status: 422, body: bodyUnprocessable("Memory in mb must be 0 or more")},
		{name: "bare invalid input", err: tasklife.ErrInvalidInput, status: 422, body: bodyUnprocessable("The request is invalid")},
		{name: "unavailable", err: tasklife.ErrUnavailable, status: 503, body: bodyUnavailable},
		{name: "deadline", err: context.DeadlineExceeded, status: 503, body: bodyUnavailable},
		{name: "unknown", err: errors.New("secret internals"), status: 500, body: bodyUnknownError, logged: true},
		{name: "constructor 422", err: httpadapter.UnprocessableEntity("No command or template provided"), status: 422, body: bodyUnprocessable("No command or template provided")},
		{name: "constructor 400", err: httpadapter.MessageParseError("unexpected EOF"), status: 400, body: envelope("Request invalid due to parse error: unexpected EOF", "CF-MessageParseError", 1001)},
		{name: "constructor 404", err: httpadapter.ResourceNotFound("App"), status: 404, body: bodyAppNotFound},
		{name: "constructor 403", err: httpadapter.NotAuthorized(), status: 403, body: bodyNotAuthorized},
		{name: "constructor bad query", err: httpadapter.BadQueryParameter("x"), status: 400, body: bodyBadQuery("x")},
		{name: "*Error with a status that is no error", err: &httpadapter.Error{Status: 200, Title: "T", Code: 1, Detail: "d"}, status: 500, body: envelope("d", "T", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			h := httpadapter.New(tasklife.New(memstore.New()), all, httpadapter.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			w := httptest.NewRecorder()
			h.WriteError(w, httptest.NewRequest(http.MethodGet, "/v3/x", nil), tt.err)
			require.Equal(t, tt.status, w.Code)
			require.Equal(t, tt.body, w.Body.String())
			require.NoError(t, validateResponse(httptest.NewRequest(http.MethodGet, "/unrouted", nil), w.Code, w.Header(), w.Body.Bytes()))
			require.Equal(t, tt.logged, strings.Contains(logs.String(), tt.err.Error()))
		})
	}
}

// TestSpecCatchesDrift proves the response validation can fail: bodies
// that break the document are refused.
func TestSpecCatchesDrift(t *testing.T) {
	t.Parallel()
	task := `{"guid":"6b8e4f7e-2b1a-4c55-9f65-0a1f5b0e7d11","created_at":"2016-05-04T17:00:41Z","updated_at":"2016-05-04T17:00:41Z","sequence_id":1,"name":"n","user":null,"state":"RUNNING","memory_in_mb":1,"disk_in_mb":null,"log_rate_limit_in_bytes_per_second":-1,"result":{"failure_reason":null},"droplet_guid":"","relationships":{"app":{"data":{"guid":"a"}}},"metadata":{"labels":{},"annotations":{}},"links":{"self":{"href":"http://h/v3/tasks/x"},"app":{"href":"http://h/v3/apps/a"},"cancel":{"href":"http://h/v3/tasks/x/actions/cancel","method":"POST"}}}`
	r := httptest.NewRequest(http.MethodGet, "/v3/tasks/x", nil)
	header := http.Header{"Content-Type": {"application/json"}}
	require.NoError(t, validateResponse(r, 200, header, []byte(task)))
	for _, bad := range []struct{ from, to string }{
		{`"sequence_id":1`, `"sequence_id":"1"`},
		{`"labels":{}`, `"labels":null`},
		{`"created_at":"2016-05-04T17:00:41Z"`, `"created_at":"2016-05-04T17:00:41.5Z"`},
		{`"state":"RUNNING"`, `"state":"running"`},
		{`,"method":"POST"`, ``},
		{`"name":"n",`, `"name":"n","extra":1,`},
	} {
		body := strings.Replace(task, bad.from, bad.to, 1)
		require.Error(t, validateResponse(r, 200, header, []byte(body)), bad.to)
	}
	require.Error(t, validateResponse(r, 418, header, []byte(bodyUnknownError)), "an undocumented status")
	require.Error(t, validateResponse(r, 404, header, []byte(`{"errors":[]}`)))
	require.Error(t, validateResponse(r, 200, http.Header{"Content-Type": {"text/plain"}}, []byte(task)))
	unrouted := httptest.NewRequest(http.MethodGet, "/nope", nil)
	require.NoError(t, validateResponse(unrouted, 404, header, []byte(bodyUnknownRequest)))
	require.Error(t, validateResponse(unrouted, 404, header, []byte(`404 page not found`)))
	require.Error(t, validateResponse(unrouted, 200, header, []byte(bodyUnknownRequest)))
}

// failingHook returns err from the hook named by where (0: Authenticate).
type failingHook struct {
	grants
	where httpadapter.Permission
	err   error
}

func (f failingHook) Authenticate(r *http.Request) (httpadapter.Principal, error) {
	if f.where == 0 {
		return nil, f.err
	}
	return f.grants.Authenticate(r)
}

func (f failingHook) Authorize(ctx context.Context, p httpadapter.Principal, perm httpadapter.Permission, t *tasklife.Task) (bool, error) {
	if perm == f.where {
		return false, f.err
	}
	return f.grants.Authorize(ctx, p, perm, t)
}

// TestHookErrors: a hook that fails (its identity provider is down, say)
// is answered through Handler.WriteError, and nothing changes.
func TestHookErrors(t *testing.T) {
	t.Parallel()
	idpDown := &httpadapter.Error{Status: 503, Title: "CF-ServiceUnavailable", Code: 10015, Detail: "UAA is unavailable"}
	perms := []httpadapter.Permission{0, httpadapter.PermRead, httpadapter.PermWrite, httpadapter.PermReadTask, httpadapter.PermCancelTask, httpadapter.PermReadSecrets}
	for _, where := range perms {
		for _, hookErr := range []error{idpDown, errors.New("ldap: connection reset")} {
			t.Run(fmt.Sprint(where, " ", hookErr), func(t *testing.T) {
				t.Parallel()
				b := setup(t, failingHook{all, where, hookErr}, httpadapter.WithLogger(slog.New(slog.DiscardHandler)))
				task := b.create(t, "app", tasklife.StateRunning)
				before := b.snapshot(t)
				want := response{503, nil, envelope("UAA is unavailable", "CF-ServiceUnavailable", 10015)}
				if hookErr != idpDown {
					want = response{500, nil, bodyUnknownError}
				}
				reached := 0
				for _, req := range []struct{ method, path string }{
					{"GET", "/v3/tasks/" + task.GUID}, {"POST", "/v3/tasks/" + task.GUID + "/actions/cancel"},
					{"GET", "/v3/tasks"}, {"GET", "/v3/apps/app/tasks"},
				} {
					res := strip(b.do(t, req.method, req.path, "good"))
					if res.status >= 500 {
						require.Equal(t, want, res, req.path)
						reached++
					}
				}
				require.NotZero(t, reached, "no request asked the failing hook")
				if where != httpadapter.PermRead && where != httpadapter.PermReadSecrets {
					require.Equal(t, before, b.snapshot(t))
				}
			})
		}
	}
}

// TestAbortHandlerPanicPassesThrough: http.ErrAbortHandler is how a
// handler asks net/http to drop the connection; the adapter must not turn
// it into a 500.
func TestAbortHandlerPanicPassesThrough(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	b.handler.Handle("GET /abort", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	require.PanicsWithValue(t, http.ErrAbortHandler, func() {
		b.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/abort", nil))
	})
}
