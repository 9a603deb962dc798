package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// These tests run the executor in the test process, without HTTP.

func newTestExecutor(t *testing.T, maxRunning int) (*executor, *tasklife.Service, *syncBuffer) {
	t.Helper()
	svc := tasklife.New(memstore.New())
	log := &syncBuffer{}
	e := newExecutor(svc, slog.New(slog.NewTextHandler(log, nil)), time.Second, maxRunning)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		require.NoError(t, e.Shutdown(ctx))
		e.shell.mu.Lock()
		defer e.shell.mu.Unlock()
		require.Empty(t, e.shell.procs, "processes left behind")
	})
	return e, svc, log
}

// awaitTerminal polls until the task has ended.
func awaitTerminal(t *testing.T, svc *tasklife.Service, guid string) *tasklife.Task {
	t.Helper()
	var got *tasklife.Task
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		got, err = svc.Get(context.Background(), guid)
		require.NoError(c, err)
		require.True(c, got.State.Terminal(), "task %s still %s", guid, got.State)
	}, 5*time.Second, 10*time.Millisecond)
	return got
}

func TestExecutorCannotStart(t *testing.T) {
	t.Parallel()
	e, svc, _ := newTestExecutor(t, 1)
	e.shell.path = filepath.Join(t.TempDir(), "no-shell-here")
	created, err := e.Create(context.Background(), tasklife.NewTask{AppGUID: "a", Command: "true"})
	require.NoError(t, err)
	got := awaitTerminal(t, svc, created.GUID)
	require.Equal(t, tasklife.StateFailed, got.State)
	require.Equal(t, tasklife.ReasonCannotBeStarted, got.FailureReason)
}

// TestExecutorCancelRace cancels tasks at every point of their start: in the
// queue, while the process is held at the gate, right after it started.
// Every task must end FAILED "task was cancelled" and leave no process.
func TestExecutorCancelRace(t *testing.T) {
	t.Parallel()
	e, svc, log := newTestExecutor(t, 3)
	dir := t.TempDir()
	const n = 40
	var wg sync.WaitGroup
	guids := make([]string, n)
	for i := range n {
		created, err := e.Create(context.Background(), tasklife.NewTask{
			AppGUID: "a",
			Command: fmt.Sprintf("echo $$ > %s/%d; exec sleep 600", dir, i),
		})
		require.NoError(t, err)
		guids[i] = created.GUID
		wg.Go(func() {
			time.Sleep(time.Duration(i%5) * time.Millisecond) // spread the cancels over the start
			if _, err := svc.Cancel(context.Background(), created.GUID); err != nil {
				t.Error(err) // not require: this is not the test's goroutine
			}
		})
	}
	wg.Wait()
	for _, guid := range guids {
		got := awaitTerminal(t, svc, guid)
		require.Equal(t, tasklife.StateFailed, got.State)
		require.Equal(t, tasklife.ReasonCanceled, got.FailureReason)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	t.Logf("%d of %d tasks ran before their cancel took effect, %d were held at the gate",
		len(entries), n, strings.Count(log.String(), "its command never ran"))
	require.LessOrEqual(t, len(entries), strings.Count(log.String(), `msg="task started"`),
		"a command ran without its task being RUNNING")
	for _, entry := range entries {
		b, err := os.ReadFile(filepath.Join(dir, entry.Name()))
		require.NoError(t, err)
		if pgid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			requireGroupGone(t, pgid)
		}
	}
}

func TestExecutorRefusesTasksAfterShutdown(t *testing.T) {
	t.Parallel()
	e, _, _ := newTestExecutor(t, 1)
	require.NoError(t, e.Shutdown(context.Background()))
	_, err := e.Create(context.Background(), tasklife.NewTask{AppGUID: "a", Command: "true"})
	require.ErrorIs(t, err, tasklife.ErrUnavailable)
	require.ErrorIs(t, err, errShuttingDown)
}

// TestExecutorStopHearsCancelsMadeElsewhere cancels through a second Service
// on the same store, as another instance would: the executor learns of it
// only through Notify, which it may get more than once.
func TestExecutorNotifyHearsCancelsMadeElsewhere(t *testing.T) {
	t.Parallel()
	e, svc, _ := newTestExecutor(t, 1)
	elsewhere := tasklife.New(svc.Store())
	ctx := context.Background()
	running, err := e.Create(ctx, tasklife.NewTask{AppGUID: "a", Command: "exec sleep 600"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := svc.Get(ctx, running.GUID)
		return err == nil && got.State == tasklife.StateRunning
	}, 5*time.Second, 10*time.Millisecond)
	queued, err := e.Create(ctx, tasklife.NewTask{AppGUID: "a", Command: "true"})
	require.NoError(t, err)

	for _, guid := range []string{queued.GUID, running.GUID} {
		got, err := elsewhere.Cancel(ctx, guid)
		require.NoError(t, err)
		require.Equal(t, tasklife.StateCanceling, got.State)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { e.Notify(guid, tasklife.StateCanceling) })
		}
		wg.Wait()
		got = awaitTerminal(t, svc, guid)
		require.Equal(t, tasklife.StateFailed, got.State)
		require.Equal(t, tasklife.ReasonCanceled, got.FailureReason)
	}
	e.Notify("no-such-task", tasklife.StateCanceling) // not ours: nothing happens
}

func TestExecutorNamesItsInstance(t *testing.T) {
	t.Parallel()
	e, _, _ := newTestExecutor(t, 1)
	e.instance = "a"
	given := map[string]string{ownerKey: "b", "note": "kept"}
	created, err := e.Create(context.Background(), tasklife.NewTask{AppGUID: "a", Command: "true", Annotations: given})
	require.NoError(t, err)
	require.Equal(t, map[string]string{ownerKey: "a", "note": "kept"}, created.Annotations)
	require.Equal(t, "b", given[ownerKey], "the caller's map was changed")
}

func TestExecutorShutdownKeepsQueuedTasksPending(t *testing.T) {
	t.Parallel()
	e, svc, _ := newTestExecutor(t, 1)
	e.keepPending = true
	ctx := context.Background()
	running, err := e.Create(ctx, tasklife.NewTask{AppGUID: "a", Command: "exec sleep 600"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := svc.Get(ctx, running.GUID)
		return err == nil && got.State == tasklife.StateRunning
	}, 5*time.Second, time.Millisecond)
	queued, err := e.Create(ctx, tasklife.NewTask{AppGUID: "a", Command: "true"})
	require.NoError(t, err)

	shutdownCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	require.NoError(t, e.Shutdown(shutdownCtx))
	got, err := svc.Get(ctx, running.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StateFailed, got.State)
	got, err = svc.Get(ctx, queued.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StatePending, got.State, "a task accepted on a durable store was canceled by a restart")
}

// unreachableOnce is a store that cannot be reached for the first few
// attempts to record a task's outcome, as during a database restart.
type unreachableOnce struct {
	tasklife.Store
	failures atomic.Int32
}

func (s *unreachableOnce) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	if req.Event == tasklife.EventSucceed && s.failures.Add(-1) >= 0 {
		return tasklife.TransitionResult{}, fmt.Errorf("%w: connection refused", tasklife.ErrUnavailable)
	}
	return s.Store.Transition(ctx, req)
}

// TestExecutorRetriesAnOutcomeTheStoreMissed: an outage shorter, or longer,
// than the Service's own repeats of a lost write (three tries) loses no
// outcome.
func TestExecutorRetriesAnOutcomeTheStoreMissed(t *testing.T) {
	t.Parallel()
	for _, failures := range []int32{2, 5} {
		t.Run(fmt.Sprint(failures, " refused tries"), func(t *testing.T) {
			t.Parallel()
			store := &unreachableOnce{Store: memstore.New()}
			store.failures.Store(failures)
			svc := tasklife.New(store)
			e := newExecutor(svc, slog.New(slog.DiscardHandler), time.Second, 1)
			t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
			created, err := e.Create(context.Background(), tasklife.NewTask{AppGUID: "a", Command: "true"})
			require.NoError(t, err)
			got := awaitTerminal(t, svc, created.GUID)
			require.Equal(t, tasklife.StateSucceeded, got.State)
			require.Equal(t, int32(-1), store.failures.Load(), "refused tries, then one that worked")
		})
	}
}

// A task whose process ignores SIGTERM, on an instance whose hard stop
// cannot kill it, still ends FAILED "task was cancelled" by the cancel
// deadline, and the runner calls the hard stop at once.
func TestExecutorCancelDeadlineEndsWhatCannotBeKilled(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	e := newExecutor(svc, slog.New(slog.DiscardHandler), time.Hour, 1)
	e.leases.CancelDeadline = 200 * time.Millisecond
	var mayKill atomic.Bool
	hardStops := make(chan string, 10)
	e.hardStop = func(task *tasklife.Task) {
		hardStops <- task.GUID
		if mayKill.Load() {
			e.shell.kill(task)
		}
	}
	ready := filepath.Join(t.TempDir(), "ready")
	created, err := e.Create(context.Background(), tasklife.NewTask{AppGUID: "a",
		Command: fmt.Sprintf("trap '' TERM; touch %s; while :; do sleep 0.01; done", ready)})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := os.Stat(ready)
		return err == nil
	}, 10*time.Second, time.Millisecond)
	_, err = svc.Cancel(context.Background(), created.GUID)
	require.NoError(t, err)

	got := awaitTerminal(t, svc, created.GUID)
	require.Equal(t, tasklife.ReasonCanceled, got.FailureReason)
	select {
	case guid := <-hardStops:
		require.Equal(t, created.GUID, guid)
	case <-time.After(10 * time.Second):
		t.Fatal("the hard stop was never called")
	}
	mayKill.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	// The process outlived everything: the shutdown's last resort kills it.
	require.ErrorIs(t, e.Shutdown(ctx), context.DeadlineExceeded)
	e.shell.mu.Lock()
	defer e.shell.mu.Unlock()
	require.Empty(t, e.shell.procs, "processes left behind")
}
