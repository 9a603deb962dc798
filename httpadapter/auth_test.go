package httpadapter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// grants is a test Authorizer: "bearer good" authenticates, any other
// Authorization header is bad credentials, and the booleans answer the
// permissions.
type grants struct {
	read, write, readTask, cancelTask, readSecrets, updateTask, readAudit bool
}

var all = grants{read: true, write: true, readTask: true, cancelTask: true, readSecrets: true, updateTask: true, readAudit: true}

func (g grants) Authenticate(r *http.Request) (httpadapter.Principal, error) {
	switch r.Header.Get("Authorization") {
	case "":
		return nil, httpadapter.ErrNoCredentials
	case "bearer good":
		return "alice", nil
	}
	return nil, httpadapter.ErrBadCredentials
}

func (g grants) Authorize(_ context.Context, p httpadapter.Principal, perm httpadapter.Permission, task *tasklife.Task) (bool, error) {
	if p != "alice" {
		panic("Authorize called with a principal Authenticate did not return")
	}
	global := perm == httpadapter.PermRead || perm == httpadapter.PermWrite || perm == httpadapter.PermReadAuditEvents
	if global != (task == nil) {
		panic("global permissions come without a task, per-task ones with one")
	}
	switch perm {
	case httpadapter.PermRead:
		return g.read, nil
	case httpadapter.PermWrite:
		return g.write, nil
	case httpadapter.PermReadTask:
		return g.readTask, nil
	case httpadapter.PermCancelTask:
		return g.cancelTask, nil
	case httpadapter.PermReadSecrets:
		return g.readSecrets, nil
	case httpadapter.PermUpdateTask:
		return g.updateTask, nil
	case httpadapter.PermReadAuditEvents:
		return g.readAudit, nil
	}
	panic("unknown permission")
}

// authCase is one row of an auth matrix.
type authCase struct {
	name   string
	token  string // "" sends no Authorization header
	auth   grants
	status int
	// body is the exact error body; "" means the task, with its command
	// if showCommand.
	body        string
	showCommand bool
}

func TestCancelAuthMatrix(t *testing.T) {
	t.Parallel()
	tests := []authCase{
		{name: "unauthenticated", token: "", auth: all, status: 401, body: bodyNotAuthenticated},
		{name: "bad token", token: "bad", auth: all, status: 401, body: bodyInvalidToken},
		{name: "no global write scope", token: "good", auth: grants{read: true, readTask: true, cancelTask: true, readSecrets: true}, status: 403, body: bodyNotAuthorized},
		{name: "cannot read the task", token: "good", auth: grants{read: true, write: true}, status: 404, body: bodyTaskNotFound},
		{name: "can read but not cancel", token: "good", auth: grants{read: true, write: true, readTask: true, readSecrets: true}, status: 403, body: bodyNotAuthorized},
		{name: "can cancel", token: "good", auth: all, status: 202},
		{name: "can cancel without reading secrets still sees the command", token: "good", auth: grants{read: true, write: true, readTask: true, cancelTask: true}, status: 202},
	}
	for _, route := range []struct{ method, suffix string }{{http.MethodPost, "/actions/cancel"}, {http.MethodPut, "/cancel"}} {
		for _, tt := range tests {
			t.Run(route.method+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, tt.auth)
				task := b.create(t, "app", tasklife.StateRunning)
				before := b.snapshot(t)

				res := b.do(t, route.method, "/v3/tasks/"+task.GUID+route.suffix, tt.token)
				require.Equal(t, tt.status, res.status, res.body)
				if tt.body != "" {
					require.Equal(t, tt.body, res.body)
					require.Equal(t, before, b.snapshot(t), "a refused request changed the store")
					require.Zero(t, b.changes.Load())
					return
				}
				after, err := b.svc.Get(context.Background(), task.GUID)
				require.NoError(t, err)
				require.Equal(t, tasklife.StateCanceling, after.State)
				requireTask(t, res.body, after, "http://example.com", true)
				require.EqualValues(t, 1, b.changes.Load())
			})
		}
	}
}

func TestGetAuthMatrix(t *testing.T) {
	t.Parallel()
	tests := []authCase{
		{name: "unauthenticated", token: "", auth: all, status: 401, body: bodyNotAuthenticated},
		{name: "bad token", token: "bad", auth: all, status: 401, body: bodyInvalidToken},
		{name: "no global read scope", token: "good", auth: grants{write: true, readTask: true, readSecrets: true}, status: 403, body: bodyNotAuthorized},
		{name: "cannot read the task", token: "good", auth: grants{read: true}, status: 404, body: bodyTaskNotFound},
		{name: "can read, not secrets", token: "good", auth: grants{read: true, readTask: true}, status: 200},
		{name: "can read secrets", token: "good", auth: grants{read: true, readTask: true, readSecrets: true}, status: 200, showCommand: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.auth)
			task := b.create(t, "app", tasklife.StateRunning)
			before := b.snapshot(t)

			res := b.do(t, http.MethodGet, "/v3/tasks/"+task.GUID, tt.token)
			require.Equal(t, tt.status, res.status, res.body)
			require.Equal(t, before, b.snapshot(t))
			require.Zero(t, b.changes.Load())
			if tt.body != "" {
				require.Equal(t, tt.body, res.body)
				return
			}
			requireTask(t, res.body, task, "http://example.com", tt.showCommand)
		})
	}
}

// TestExistenceHidden: without the global scope, a missing guid and an
// existing one get the same answer, so scopes cannot probe for tasks.
func TestExistenceHidden(t *testing.T) {
	t.Parallel()
	b := setup(t, grants{})
	task := b.create(t, "app", tasklife.StateRunning)
	for _, path := range []string{"/v3/tasks/" + task.GUID, "/v3/tasks/no-such-task"} {
		require.Equal(t, response{403, nil, bodyNotAuthorized}, strip(b.do(t, http.MethodGet, path, "good")))
		require.Equal(t, response{403, nil, bodyNotAuthorized}, strip(b.do(t, http.MethodPost, path+"/actions/cancel", "good")))
	}
	// With the scopes but without per-task read, missing and hidden match too.
	b2 := setup(t, grants{read: true, write: true})
	task2 := b2.create(t, "app", tasklife.StateRunning)
	for _, path := range []string{"/v3/tasks/" + task2.GUID, "/v3/tasks/no-such-task"} {
		require.Equal(t, response{404, nil, bodyTaskNotFound}, strip(b2.do(t, http.MethodGet, path, "good")))
		require.Equal(t, response{404, nil, bodyTaskNotFound}, strip(b2.do(t, http.MethodPut, path+"/cancel", "good")))
	}
}

func strip(r response) response { r.header = nil; return r }

func TestBearerToken(t *testing.T) {
	t.Parallel()
	auth := httpadapter.BearerToken("s3cret")
	tests := []struct {
		header string
		err    error
	}{
		{"", httpadapter.ErrNoCredentials},
		{"bearer s3cret", nil},
		{"Bearer s3cret", nil},
		{"BEARER  s3cret ", nil},
		{"bearer s3cre", httpadapter.ErrBadCredentials},
		{"bearer s3cret2", httpadapter.ErrBadCredentials},
		{"basic s3cret", httpadapter.ErrBadCredentials},
		{"s3cret", httpadapter.ErrBadCredentials},
		{"bearer", httpadapter.ErrBadCredentials},
		{"bearer ", httpadapter.ErrBadCredentials},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/v3/tasks", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		_, err := auth.Authenticate(r)
		require.ErrorIs(t, err, tt.err, "header %q", tt.header)
		if err == nil {
			for _, perm := range []httpadapter.Permission{httpadapter.PermRead, httpadapter.PermWrite, httpadapter.PermReadTask, httpadapter.PermCancelTask, httpadapter.PermReadSecrets} {
				ok, err := auth.Authorize(context.Background(), nil, perm, nil)
				require.NoError(t, err)
				require.True(t, ok)
			}
		}
	}
	require.Panics(t, func() { httpadapter.BearerToken("") })

	// Two Authorization headers are refused, even when both are right:
	// which one counts would depend on who reads them.
	for _, pair := range [][2]string{{"bearer s3cret", "bearer wrong"}, {"bearer wrong", "bearer s3cret"}, {"bearer s3cret", "bearer s3cret"}, {"", "bearer s3cret"}} {
		r := httptest.NewRequest(http.MethodGet, "/v3/tasks", nil)
		r.Header.Add("Authorization", pair[0])
		r.Header.Add("Authorization", pair[1])
		_, err := auth.Authenticate(r)
		require.ErrorIs(t, err, httpadapter.ErrBadCredentials, "headers %q", pair)
	}
}

func TestBearerTokenEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, httpadapter.BearerToken("s3cret"))
	task := b.create(t, "app", tasklife.StateRunning)
	require.Equal(t, bodyNotAuthenticated, b.do(t, http.MethodGet, "/v3/tasks/"+task.GUID, "").body)
	require.Equal(t, bodyInvalidToken, b.do(t, http.MethodPut, "/v3/tasks/"+task.GUID+"/cancel", "wrong").body)
	require.Equal(t, tasklife.StateRunning, b.snapshot(t)[0].State)
	res := b.do(t, http.MethodPut, "/v3/tasks/"+task.GUID+"/cancel", "s3cret")
	require.Equal(t, http.StatusAccepted, res.status)
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(nil)
	require.PanicsWithValue(t, "httpadapter: New needs an Authorizer; BearerToken or, for demos, InsecureAllowAll",
		func() { httpadapter.New(svc, nil) })
	require.Panics(t, func() { httpadapter.New(nil, httpadapter.InsecureAllowAll()) })
}
