package httpadapter_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// goServe sends a request in a goroutine and returns once the handler
// holds a waiting slot, so that a change made after it returns must wake
// the request (one made before is found by its first read: the answer is
// the same).
func goServe(t *testing.T, b *bundle, target string) <-chan response {
	t.Helper()
	before := httpadapter.OpenWaits(b.handler)
	done := make(chan response, 1)
	go func() { done <- serve(b.validate, http.MethodGet, target, "good") }()
	require.Eventually(t, func() bool { return httpadapter.OpenWaits(b.handler) > before }, 10*time.Second, time.Millisecond)
	return done
}

func await(t *testing.T, ch <-chan response) response {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no response")
		return response{}
	}
}

func TestLongPollWokenByAChange(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	task := b.create(t, "app", tasklife.StateRunning)
	done := goServe(t, b, "/v3/tasks/"+task.GUID+"?wait=30s")
	_, err := b.svc.Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	select {
	case r := <-done:
		t.Fatalf("answered before the task ended: %d %s", r.status, r.body)
	default:
	}
	ended, err := b.svc.Canceled(context.Background(), task.GUID)
	require.NoError(t, err)
	r := await(t, done)
	require.Equal(t, http.StatusOK, r.status, r.body)
	requireTask(t, r.body, ended, "http://example.com", true)
	require.Equal(t, strconv.FormatInt(ended.Version, 10), r.header.Get(httpadapter.VersionHeader))
	require.Zero(t, httpadapter.OpenWaits(b.handler))
}

func TestLongPollAfterVersionAndStates(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	task := b.create(t, "app", tasklife.StatePending)

	// version_gt=0 answers at once, with the version to poll after.
	r := b.do(t, http.MethodGet, "/v3/tasks/"+task.GUID+"?wait=30s&version_gt=0", "good")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, strconv.FormatInt(task.Version, 10), r.header.Get(httpadapter.VersionHeader))

	done := goServe(t, b, "/v3/tasks/"+task.GUID+"?wait=30s&version_gt="+r.header.Get(httpadapter.VersionHeader))
	started, err := b.svc.Start(context.Background(), task.GUID)
	require.NoError(t, err)
	r = await(t, done)
	require.Equal(t, http.StatusOK, r.status, r.body)
	requireTask(t, r.body, started, "http://example.com", true)

	done = goServe(t, b, "/v3/tasks/"+task.GUID+"?wait=30s&states=CANCELING")
	canceling, err := b.svc.Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	r = await(t, done)
	requireTask(t, r.body, canceling, "http://example.com", true)
}

// When the wait is over, the task as it is: the client looks and asks
// again.
func TestLongPollTimesOut(t *testing.T) {
	t.Parallel()
	b := setup(t, all, httpadapter.WithMaxWait(20*time.Millisecond))
	task := b.create(t, "app", tasklife.StateRunning)
	r := b.do(t, http.MethodGet, "/v3/tasks/"+task.GUID+"?wait=1h", "good") // capped
	require.Equal(t, http.StatusOK, r.status, r.body)
	requireTask(t, r.body, task, "http://example.com", true)
	require.Equal(t, strconv.FormatInt(task.Version, 10), r.header.Get(httpadapter.VersionHeader))
}

func TestLongPollRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	task := b.create(t, "app", tasklife.StateRunning)
	path := "/v3/tasks/" + task.GUID
	for query, what := range map[string]string{
		"?wait=soon":             "wait must be one positive duration, such as 30s",
		"?wait=-1s":              "wait must be one positive duration, such as 30s",
		"?wait=1s&wait=2s":       "wait must be one positive duration, such as 30s",
		"?wait=1s&version_gt=x":  "version_gt must be one integer, 0 or more",
		"?wait=1s&version_gt=-1": "version_gt must be one integer, 0 or more",
		"?wait=1s&states=DONE":   "states must be comma-separated states, each one of PENDING, RUNNING, CANCELING, SUCCEEDED, FAILED",
		"?version_gt=1":          "version_gt needs wait",
		"?states=RUNNING":        "states needs wait",
	} {
		r := b.do(t, http.MethodGet, path+query, "good")
		require.Equal(t, http.StatusBadRequest, r.status, query)
		require.Equal(t, bodyBadQuery(what), r.body, query)
	}
	r := b.do(t, http.MethodGet, path+"?wait=1s", "")
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = setup(t, grants{}).do(t, http.MethodGet, path+"?wait=1s", "good")
	require.Equal(t, http.StatusForbidden, r.status)
	r = b.do(t, http.MethodGet, "/v3/tasks/nope?wait=1s", "good")
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, bodyTaskNotFound, r.body)
	require.Zero(t, httpadapter.OpenWaits(b.handler))
}

// Beyond WithMaxOpenWaits: 503 in the CF envelope, with Retry-After.
func TestLongPollLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, all, httpadapter.WithMaxOpenWaits(1))
	task := b.create(t, "app", tasklife.StateRunning)
	done := goServe(t, b, "/v3/tasks/"+task.GUID+"?wait=30s")
	r := b.do(t, http.MethodGet, "/v3/tasks/"+task.GUID+"?wait=30s", "good")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, envelope("Too many requests are waiting for changes; try again later", "CF-ServiceUnavailable", 10015), r.body)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	// A plain GET is not a wait, and is not limited.
	r = b.do(t, http.MethodGet, "/v3/tasks/"+task.GUID, "good")
	require.Equal(t, http.StatusOK, r.status)
	require.Empty(t, r.header.Get(httpadapter.VersionHeader), "CC clients see no change")
	_, err := b.svc.Succeed(context.Background(), task.GUID)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, await(t, done).status)
}
