package httpadapter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

// callers is a test Authorizer with two callers, "bearer alice" and
// "bearer bob", each of whom may see and cancel only the tasks of their
// own app, "app-alice" or "app-bob". It names them in audit events, so
// idempotency keys are theirs.
type callers struct{}

func (callers) Authenticate(r *http.Request) (httpadapter.Principal, error) {
	name, ok := strings.CutPrefix(r.Header.Get("Authorization"), "bearer ")
	if !ok || (name != "alice" && name != "bob") {
		return nil, httpadapter.ErrBadCredentials
	}
	return name, nil
}

func (callers) Authorize(_ context.Context, p httpadapter.Principal, _ httpadapter.Permission, t *tasklife.Task) (bool, error) {
	return t == nil || t.AppGUID == "app-"+p.(string), nil
}

func (callers) Actor(p httpadapter.Principal) tasklife.Actor {
	return tasklife.Actor{GUID: p.(string), Type: "user", Name: p.(string) + "@example.com"}
}

// keyed is one request with an Idempotency-Key ("" sends none).
func keyed(h http.Handler, method, target, who, key, body string) response {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Authorization", "bearer "+who)
	if key != "" {
		r.Header.Set(httpadapter.IdempotencyKeyHeader, key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return response{status: w.Code, header: w.Header(), body: w.Body.String()}
}

// idemSetup is a Handler over svc (a memstore Service unless given) that
// creates tasks, with the two callers.
func idemSetup(t testing.TB, svc *tasklife.Service) http.Handler {
	if svc == nil {
		svc = tasklife.New(memstore.New())
	}
	h := httpadapter.New(svc, callers{}, httpadapter.WithBaseURL("https://api.example.com"),
		httpadapter.WithCreate(func(ctx context.Context, _ httpadapter.Principal, nt tasklife.NewTask) (*tasklife.Task, error) {
			return svc.Create(ctx, nt)
		}))
	return validating(t, h)
}

func countTasks(t testing.TB, svc *tasklife.Service, app string) int {
	t.Helper()
	page, err := svc.List(context.Background(), tasklife.ListQuery{AppGUIDs: []string{app}})
	require.NoError(t, err)
	return page.TotalResults
}

const createBody = `{"command":"rake db:migrate","name":"migrate"}`

func TestIdempotencyKeySyntax(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	h := idemSetup(t, svc)
	malformed := envelope("The Idempotency-Key header must be one quoted string (RFC 8941) of 1 to 255 printable ASCII characters, e.g. \"8e03978e-40d5-43e8-bc93-6894a57f9324\"", "CF-InvalidRequest", 10004)
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`, true},
		{`"with \"escapes\" and \\"`, true},
		{` "ows around" `, true},
		{`"a";param=1`, true}, // RFC 8941: unknown parameters are ignored
		{`8e03978e`, false},   // a token, not a String
		{`""`, false},
		{`"unterminated`, false},
		{`"bad \escape"`, false},
		{`"trailing" junk`, false},
		{`"` + strings.Repeat("k", 256) + `"`, false},
		{"\"caf\u00e9\"", false},
	} {
		before := countTasks(t, svc, "app-alice")
		res := keyed(h, http.MethodPost, "/v3/apps/app-alice/tasks", "alice", tc.header, createBody)
		if tc.ok {
			require.Equal(t, http.StatusAccepted, res.status, "%s: %s", tc.header, res.body)
			continue
		}
		require.Equal(t, http.StatusBadRequest, res.status, tc.header)
		require.JSONEq(t, malformed, res.body)
		require.Equal(t, before, countTasks(t, svc, "app-alice"), "a malformed key changes nothing")
	}

	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app-alice", Command: "x"})
	require.NoError(t, err)
	res := keyed(h, http.MethodPost, "/v3/tasks/"+task.GUID+"/actions/cancel", "alice", "unquoted", "")
	require.Equal(t, http.StatusBadRequest, res.status)
	got, err := svc.Get(context.Background(), task.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StatePending, got.State)

	r := httptest.NewRequest(http.MethodPost, "/v3/apps/app-alice/tasks", strings.NewReader(createBody))
	r.Header.Set("Authorization", "bearer alice")
	r.Header.Add(httpadapter.IdempotencyKeyHeader, `"a"`)
	r.Header.Add(httpadapter.IdempotencyKeyHeader, `"b"`)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusBadRequest, w.Code, "two keys")
}

// TestIdempotentCreate: a repeat creates nothing and answers byte for
// byte as the first did, even once the task has ended; another body with
// the key is 422; without a key every create creates, as in CC.
func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	h := idemSetup(t, svc)
	first := keyed(h, http.MethodPost, "/v3/apps/app-alice/tasks", "alice", `"create-1"`, createBody)
	require.Equal(t, http.StatusAccepted, first.status, first.body)
	guid := guidOf(t, first.body)
	_, err := svc.Start(context.Background(), guid)
	require.NoError(t, err)
	_, err = svc.Succeed(context.Background(), guid)
	require.NoError(t, err)

	// The same request, its JSON written differently.
	again := keyed(h, http.MethodPost, "/v3/apps/app-alice/tasks", "alice", `"create-1"`, `{ "name": "migrate", "command": "rake db:migrate" }`)
	require.Equal(t, first, again)
	require.Equal(t, 1, countTasks(t, svc, "app-alice"))

	for _, other := range []struct{ target, body string }{
		{"/v3/apps/app-alice/tasks", `{"command":"rake db:seed","name":"migrate"}`},
		{"/v3/apps/app-other/tasks", createBody},
	} {
		res := keyed(h, http.MethodPost, other.target, "alice", `"create-1"`, other.body)
		require.Equal(t, http.StatusUnprocessableEntity, res.status)
		require.JSONEq(t, bodyUnprocessable("Idempotency-Key was already used for a different request"), res.body)
	}
	require.Equal(t, 1, countTasks(t, svc, "app-alice"))
	require.Equal(t, 0, countTasks(t, svc, "app-other"))

	for range 2 {
		require.Equal(t, http.StatusAccepted, keyed(h, http.MethodPost, "/v3/apps/app-alice/tasks", "alice", "", createBody).status)
	}
	require.Equal(t, 3, countTasks(t, svc, "app-alice"), "without a key, every create creates")
}

// TestIdempotentCancel: a repeat of a cancel that took effect answers 202
// with the first body, byte for byte, after the task ended, on either
// route; a no-op cancel with a new key records its own answer; a cancel
// refused records nothing.
func TestIdempotentCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	h := idemSetup(t, svc)
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-alice", Command: "sleep 60"})
	require.NoError(t, err)
	cancel := "/v3/tasks/" + task.GUID + "/actions/cancel"
	first := keyed(h, http.MethodPost, cancel, "alice", `"cancel-1"`, "")
	require.Equal(t, http.StatusAccepted, first.status, first.body)
	noop := keyed(h, http.MethodPost, cancel, "alice", `"cancel-2"`, "")
	require.Equal(t, http.StatusAccepted, noop.status)
	_, err = svc.Canceled(ctx, task.GUID)
	require.NoError(t, err)

	require.Equal(t, first, keyed(h, http.MethodPost, cancel, "alice", `"cancel-1"`, ""))
	require.Equal(t, first, keyed(h, http.MethodPut, "/v3/tasks/"+task.GUID+"/cancel", "alice", `"cancel-1"`, ""), "both routes are one action")
	require.Equal(t, noop, keyed(h, http.MethodPost, cancel, "alice", `"cancel-2"`, ""), "the no-op's answer was recorded")

	refused := keyed(h, http.MethodPost, cancel, "alice", `"cancel-3"`, "")
	require.Equal(t, http.StatusUnprocessableEntity, refused.status)
	require.JSONEq(t, bodyUnprocessable("Task state is FAILED and therefore cannot be canceled"), refused.body)
	require.Equal(t, http.StatusUnprocessableEntity, keyed(h, http.MethodPost, cancel, "alice", "", "").status, "without a key: CC's 422")

	other, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-alice", Command: "sleep 60"})
	require.NoError(t, err)
	res := keyed(h, http.MethodPost, "/v3/tasks/"+other.GUID+"/actions/cancel", "alice", `"cancel-1"`, "")
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "the key was used for another task")
	got, err := svc.Get(ctx, other.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StatePending, got.State)
}

// TestIdempotencyKeyAuth: keys are scoped by caller, so a key never shows
// one caller another's response; a replay still passes the checks of the
// route; a host that cannot tell callers apart refuses keys.
func TestIdempotencyKeyAuth(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	h := idemSetup(t, svc)
	alice := keyed(h, http.MethodPost, "/v3/apps/app-alice/tasks", "alice", `"shared"`, createBody)
	require.Equal(t, http.StatusAccepted, alice.status)

	bob := keyed(h, http.MethodPost, "/v3/apps/app-bob/tasks", "bob", `"shared"`, createBody)
	require.Equal(t, http.StatusAccepted, bob.status, "bob's key is his own, not a reuse of alice's")
	require.NotEqual(t, guidOf(t, alice.body), guidOf(t, bob.body))
	bobSame := keyed(h, http.MethodPost, "/v3/apps/app-alice/tasks", "bob", `"shared2"`, createBody)
	require.Equal(t, http.StatusAccepted, bobSame.status, "the create hook (here: none) decides who may create where")
	require.NotContains(t, bobSame.body, guidOf(t, alice.body))

	aliceTask := guidOf(t, alice.body)
	ok := keyed(h, http.MethodPost, "/v3/tasks/"+aliceTask+"/actions/cancel", "alice", `"c"`, "")
	require.Equal(t, http.StatusAccepted, ok.status)
	stolen := keyed(h, http.MethodPost, "/v3/tasks/"+aliceTask+"/actions/cancel", "bob", `"c"`, "")
	require.Equal(t, http.StatusNotFound, stolen.status, "bob may not see alice's task, key or not")
	require.JSONEq(t, envelope("Task not found", "CF-ResourceNotFound", 10010), stolen.body)

	noNames := httpadapter.New(svc, all, httpadapter.WithCreate(func(ctx context.Context, _ httpadapter.Principal, nt tasklife.NewTask) (*tasklife.Task, error) {
		return svc.Create(ctx, nt)
	}))
	res := keyed(noNames, http.MethodPost, "/v3/apps/app-x/tasks", "good", `"k"`, createBody)
	require.Equal(t, http.StatusBadRequest, res.status)
	require.JSONEq(t, envelope("This server does not accept Idempotency-Key: it cannot tell callers apart", "CF-InvalidRequest", 10004), res.body)
	require.Equal(t, 0, countTasks(t, svc, "app-x"))
	require.Equal(t, http.StatusAccepted, keyed(noNames, http.MethodPost, "/v3/apps/app-x/tasks", "good", "", createBody).status)
}

// TestIdempotencyKeyConcurrentRepeats: of repeats of one key at once, one
// creates; each other gets the first response or 409, never a task of
// its own.
func TestIdempotencyKeyConcurrentRepeats(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	// Two Handlers on one Service: instances without a shared in-flight
	// set, where the store alone keeps the key unique.
	handlers := []http.Handler{idemSetup(t, svc), idemSetup(t, svc)}
	const n = 16
	responses := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			responses[i] = keyed(handlers[i%2], http.MethodPost, "/v3/apps/app-alice/tasks", "alice", `"race"`, createBody)
		})
	}
	close(start)
	wg.Wait()
	var accepted []response
	for _, res := range responses {
		switch res.status {
		case http.StatusAccepted:
			accepted = append(accepted, res)
		case http.StatusConflict:
			require.JSONEq(t, envelope("A request with this Idempotency-Key is still being processed; repeat it once that one is answered", "CF-IdempotencyKeyInFlight", 10017), res.body)
		default:
			t.Fatalf("%d: %s", res.status, res.body)
		}
	}
	require.NotEmpty(t, accepted)
	for _, res := range accepted {
		require.Equal(t, accepted[0].body, res.body)
	}
	require.Equal(t, 1, countTasks(t, svc, "app-alice"))
}

// TestIdempotencyKeyExpiry: a key older than the TTL is forgotten: the
// same key with another request creates, rather than 422.
func TestIdempotencyKeyExpiry(t *testing.T) {
	t.Parallel()
	const ttl = 50 * time.Millisecond
	svc := tasklife.New(memstore.New(), tasklife.WithIdempotencyTTL(ttl))
	h := idemSetup(t, svc)
	first := keyed(h, http.MethodPost, "/v3/apps/app-alice/tasks", "alice", `"k"`, createBody)
	require.Equal(t, http.StatusAccepted, first.status)
	created := time.Now()
	require.Eventually(t, func() bool { return time.Since(created) > 2*ttl }, 10*time.Second, time.Millisecond)
	second := keyed(h, http.MethodPost, "/v3/apps/app-alice/tasks", "alice", `"k"`, `{"command":"other"}`)
	require.Equal(t, http.StatusAccepted, second.status, second.body)
	require.Equal(t, 2, countTasks(t, svc, "app-alice"))
	n, err := svc.DeleteExpiredKeys(context.Background(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n, "the expired key was removed when it was met; the new one is purged")
}

func guidOf(t testing.TB, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `"guid":"`)
	require.True(t, ok, body)
	guid, _, _ := strings.Cut(rest, `"`)
	return guid
}
