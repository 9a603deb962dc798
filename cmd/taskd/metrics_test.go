package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

// downStore is unreachable for the task "down".
type downStore struct{ tasklife.Store }

func (s downStore) Get(ctx context.Context, guid string) (*tasklife.Task, error) {
	if guid == "down" {
		return nil, tasklife.ErrUnavailable
	}
	return s.Store.Get(ctx, guid)
}

// The test: the metrics' values after a known sequence of
// operations.
func TestMetricsAfterKnownOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newMetrics()
	svc := tasklife.New(countingStore{Store: downStore{memstore.New()}, m: m})
	m.attach(svc, defaultDBTimeoutForTest)
	h := m.countRequests(httpadapter.New(svc, httpadapter.BearerToken("tok")))

	create := func() string {
		task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "x"})
		require.NoError(t, err)
		return task.GUID
	}
	must := func(_ *tasklife.Task, err error) { t.Helper(); require.NoError(t, err) }
	a, b, _, d := create(), create(), create(), create()
	must(svc.Start(ctx, a))
	must(svc.Cancel(ctx, a))
	must(svc.Canceled(ctx, a)) // FAILED after a cancel
	must(svc.Start(ctx, b))
	must(svc.Succeed(ctx, b)) // SUCCEEDED
	must(svc.Cancel(ctx, d))  // CANCELING; the third stays PENDING

	for target, status := range map[string]int{
		"GET /v3/tasks/" + a:                      200,
		"GET /v3/tasks/nope":                      404,
		"GET /v3/tasks/down":                      503,
		"POST /v3/tasks/" + b + "/actions/cancel": 422,
		"GET /elsewhere":                          404,
	} {
		method, path, _ := strings.Cut(target, " ")
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set("Authorization", "bearer tok")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, status, w.Code, target)
	}

	for ev, n := range map[tasklife.Event]float64{
		tasklife.EventCreate: 4, tasklife.EventStart: 2, tasklife.EventCancel: 2,
		tasklife.EventCanceled: 1, tasklife.EventSucceed: 1, tasklife.EventFail: 0,
	} {
		require.Equal(t, n, testutil.ToFloat64(m.transitions.WithLabelValues(string(ev))), ev)
	}
	for route, n := range map[[2]string]float64{
		{"GET /v3/tasks/{guid}", "200"}:                 1,
		{"GET /v3/tasks/{guid}", "404"}:                 1,
		{"GET /v3/tasks/{guid}", "503"}:                 1,
		{"POST /v3/tasks/{guid}/actions/cancel", "422"}: 1,
		{"unrouted", "404"}:                             1,
	} {
		require.Equal(t, n, testutil.ToFloat64(m.requests.WithLabelValues(route[0], route[1])), route)
	}
	require.Equal(t, 1.0, testutil.ToFloat64(m.storeErrors.WithLabelValues("get", "unavailable")))
	require.Equal(t, 1, testutil.CollectAndCount(m.storeErrors), "a missing task is no store error")

	// One cancel ended (canceled); the other is still CANCELING.
	require.Equal(t, 1, testutil.CollectAndCount(m.cancel))
	require.NoError(t, testutil.GatherAndCompare(m.reg, strings.NewReader(`
# HELP tasklife_tasks Tasks in the store, by state, counted when scraped.
# TYPE tasklife_tasks gauge
tasklife_tasks{state="CANCELING"} 1
tasklife_tasks{state="FAILED"} 1
tasklife_tasks{state="PENDING"} 1
tasklife_tasks{state="RUNNING"} 0
tasklife_tasks{state="SUCCEEDED"} 1
`), "tasklife_tasks"))
	hist, err := m.reg.Gather()
	require.NoError(t, err)
	for _, f := range hist {
		if f.GetName() == "tasklife_cancel_latency_seconds" {
			require.Len(t, f.GetMetric(), 1)
			require.Equal(t, "canceled", f.GetMetric()[0].GetLabel()[0].GetValue())
			require.Equal(t, uint64(1), f.GetMetric()[0].GetHistogram().GetSampleCount())
			require.GreaterOrEqual(t, f.GetMetric()[0].GetHistogram().GetSampleSum(), 0.0)
		}
	}

	// Served on its own listener.
	srv := httptest.NewServer(m.handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
}

const defaultDBTimeoutForTest = 5 * time.Second
