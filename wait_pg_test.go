package tasklife_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// pgPair is two instances (pools, Stores, Services) on one schema; a's
// Service hears of b's changes through a.Listen and Notify only.
type pgPair struct {
	svcA, svcB *tasklife.Service
}

func newPGPair(tb testing.TB) *pgPair {
	tb.Helper()
	a := pgtest.Store(tb) // skips without a database (fails with CI=true)
	b, err := pgstore.New(pgtest.Pool(tb), pgstore.WithSchema(a.Schema()))
	require.NoError(tb, err)
	p := &pgPair{svcA: tasklife.New(a, tasklife.WithWaitRecheck(time.Hour)), svcB: tasklife.New(b)}

	// A task cancelled before Listen starts is handed over by its first
	// reconciliation, which follows its LISTEN: from then on, every commit
	// reaches it.
	ctx := context.Background()
	marker, err := p.svcB.Create(ctx, tasklife.NewTask{AppGUID: uuid.NewString(), Command: "marker"})
	require.NoError(tb, err)
	_, err = p.svcB.Cancel(ctx, marker.GUID)
	require.NoError(tb, err)
	var listening atomic.Bool
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- a.Listen(lctx, pgstore.ListenOptions{Handle: func(_ context.Context, n pgstore.Notification) {
			if n.GUID == marker.GUID {
				listening.Store(true)
			}
			p.svcA.Notify(n.GUID)
		}, ReconcileInterval: time.Hour})
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	require.Eventually(tb, listening.Load, 10*time.Second, time.Millisecond)
	return p
}

// The test: a wait on one instance is woken by a change made
// through another, with no recheck to fall back on.
func TestWaitWokenByAnotherInstancePG(t *testing.T) {
	t.Parallel()
	p := newPGPair(t)
	ctx := context.Background()
	task, err := p.svcB.Create(ctx, tasklife.NewTask{AppGUID: uuid.NewString(), Command: "x"})
	require.NoError(t, err)
	done := goWait(t, ctx, p.svcA, task.GUID, tasklife.WaitFor{States: []tasklife.State{tasklife.StateCanceling}})
	_, err = p.svcB.Cancel(ctx, task.GUID)
	require.NoError(t, err)
	r := receive(t, done)
	require.NoError(t, r.err)
	require.Equal(t, tasklife.StateCanceling, r.task.State)
}

// BenchmarkWait measures how long a waiter sleeps after the change it waits
// for has committed: from the return of the write (Start) to the return of
// Wait. Each iteration creates a task, starts a Wait for RUNNING, waits
// until the waiter is registered, then starts the task.
//
//   - memstore: the write and the Wait go through one Service; its wake-up
//     happens inside Start, so what is left is the waiter's goroutine
//     waking and reading the task (0 when it returned before Start did).
//   - pgstore: the write goes through instance B, the Wait through
//     instance A, woken by A's Store.Listen and Notify: a NOTIFY's trip
//     through the server, then A's read of the task.
//
// Metrics: p50-µs and p99-µs over all iterations (nearest rank); ns/op is
// the whole iteration.
func BenchmarkWait(b *testing.B) {
	b.Run("memstore", func(b *testing.B) {
		svc := tasklife.New(memstore.New(), tasklife.WithWaitRecheck(time.Hour))
		measureWait(b, svc, svc)
	})
	b.Run("pgstore", func(b *testing.B) {
		p := newPGPair(b)
		measureWait(b, p.svcA, p.svcB)
	})
}

func measureWait(b *testing.B, waiter, writer *tasklife.Service) {
	ctx := context.Background()
	app := uuid.NewString()
	lat := make([]time.Duration, 0, b.N)
	type ret struct {
		at  time.Time
		err error
	}
	done := make(chan ret, 1)
	for b.Loop() {
		task, err := writer.Create(ctx, tasklife.NewTask{AppGUID: app, Command: "x"})
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			_, err := waiter.Wait(ctx, task.GUID, tasklife.WaitFor{States: []tasklife.State{tasklife.StateRunning}})
			done <- ret{time.Now(), err}
		}()
		for tasklife.WaitersThatReadOf(waiter, task.GUID) == 0 {
			time.Sleep(10 * time.Microsecond) // a benchmark's spin, not a test's wait
		}
		if _, err := writer.Start(ctx, task.GUID); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		r := <-done
		if r.err != nil {
			b.Fatal(r.err)
		}
		lat = append(lat, max(0, r.at.Sub(committed)))
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.5) - 1
		return float64(lat[min(max(i, 0), len(lat)-1)].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// The test over HTTP: a long poll on one instance is answered when
// a change is made through another.
func TestLongPollWokenByAnotherInstancePG(t *testing.T) {
	t.Parallel()
	p := newPGPair(t)
	ctx := context.Background()
	srv := httptest.NewServer(httpadapter.New(p.svcA, httpadapter.InsecureAllowAll()))
	t.Cleanup(srv.Close)
	task, err := p.svcB.Create(ctx, tasklife.NewTask{AppGUID: uuid.NewString(), Command: "x"})
	require.NoError(t, err)
	type answer struct {
		status  int
		version string
		body    string
	}
	done := make(chan answer, 1)
	go func() {
		res, err := srv.Client().Get(srv.URL + "/v3/tasks/" + task.GUID + "?wait=30s&version_gt=" + strconv.FormatInt(task.Version, 10))
		if err != nil {
			done <- answer{body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- answer{res.StatusCode, res.Header.Get(httpadapter.VersionHeader), string(b)}
	}()
	require.Eventually(t, func() bool { return tasklife.WaitersThatReadOf(p.svcA, task.GUID) == 1 }, 10*time.Second, time.Millisecond)
	canceled, err := p.svcB.Cancel(ctx, task.GUID)
	require.NoError(t, err)
	select {
	case a := <-done:
		require.Equal(t, http.StatusOK, a.status, a.body)
		require.Equal(t, strconv.FormatInt(canceled.Version, 10), a.version)
		require.Contains(t, a.body, `"state":"CANCELING"`)
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll was not answered")
	}
}
