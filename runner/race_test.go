package runner_test

// Interleavings a review of the runner found wrong, pinned with store hooks
// so that each test decides the order of events instead of hoping for it.

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/runner"
)

// A cancel that commits after a claim took the task, but before the claim
// has returned and the work started, still reaches the work: it never
// runs, and the task ends canceled. Heard here (the Service's observer) and
// from elsewhere (Notify).
func TestACancelBetweenAClaimAndItsWorkReachesIt(t *testing.T) {
	t.Parallel()
	for _, heard := range []string{"observer", "notify"} {
		t.Run(heard, func(t *testing.T) {
			t.Parallel()
			mem := memstore.New()
			h := &hooked{Store: mem}
			svc := tasklife.New(h)
			var runs atomic.Int32
			r := runner.New(svc, func(context.Context, *tasklife.Task) error {
				runs.Add(1)
				return nil
			}, runner.Config{PollInterval: time.Hour, Logger: quiet()})
			h.onClaim(func(claimed []*tasklife.Task) error {
				guid := claimed[0].GUID
				if heard == "observer" {
					_, err := svc.Cancel(context.Background(), guid)
					return err
				}
				_, err := tasklife.New(mem).Cancel(context.Background(), guid)
				r.Notify(guid, tasklife.StateCanceling)
				return err
			})
			start(t, r)
			task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
			require.NoError(t, err)
			require.Eventually(t, func() bool { return stateOf(t, mem, task.GUID) == tasklife.StateFailed }, waitFor, time.Millisecond)
			got, err := mem.Get(context.Background(), task.GUID)
			require.NoError(t, err)
			require.Equal(t, tasklife.ReasonCanceled, got.FailureReason)
			require.Zero(t, runs.Load(), "the work ran after its task was cancelled")
		})
	}
}

// A claim whose answer was lost took the task all the same: the runner
// finds it among the leases it holds, and runs it, once.
func TestAClaimWhoseAnswerWasLostStillRunsTheTask(t *testing.T) {
	t.Parallel()
	mem := memstore.New()
	h := &hooked{Store: mem}
	svc := tasklife.New(h)
	var runs atomic.Int32
	var lost atomic.Bool
	h.onClaim(func([]*tasklife.Task) error {
		if lost.CompareAndSwap(false, true) {
			return tasklife.ErrUnavailable
		}
		return nil
	})
	start(t, runner.New(svc, func(context.Context, *tasklife.Task) error {
		runs.Add(1)
		return nil
	}, runner.Config{PollInterval: time.Hour, Lease: 300 * time.Millisecond, Logger: quiet()}))
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return stateOf(t, mem, task.GUID) == tasklife.StateSucceeded }, waitFor, time.Millisecond)
	require.EqualValues(t, 1, runs.Load())
}

// A MaxRunning larger than a list page still runs tasks.
func TestALargeMaxRunningStillRuns(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	start(t, runner.New(svc, func(context.Context, *tasklife.Task) error { return nil },
		runner.Config{MaxRunning: 2000, PollInterval: 10 * time.Millisecond, Logger: quiet()}))
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return stateOf(t, svc.Store(), task.GUID) == tasklife.StateSucceeded }, waitFor, time.Millisecond)
}

// A failure whose text no store can keep still ends its task FAILED.
func TestUnstorableFailureReasonsStillEndTheTask(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		err    error
		reason string
	}{
		"empty Failure": {runner.Failure(" ", errors.New("exit status 1")), "work failed: *runner.failure"},
		"NUL byte":      {errors.New("stderr: \x00!"), "stderr: \uFFFD!"},
		"invalid UTF-8": {errors.New("stderr: \xff"), "stderr: \uFFFD"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(context.Context, *tasklife.Task) error { return tc.err }, runner.Config{})
			task := b.create(t, name)
			got := b.waitState(t, task.GUID, tasklife.StateFailed)
			require.Equal(t, tc.reason, got.FailureReason)
		})
	}
}

// A task cancelled while no Run was running is ended when one starts.
func TestACancelBeforeRunIsEndedByRun(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	r := runner.New(svc, func(context.Context, *tasklife.Task) error { return nil }, runner.Config{Logger: quiet()})
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	_, err = svc.Cancel(context.Background(), task.GUID) // the observer hears it before Run
	require.NoError(t, err)
	start(t, r)
	require.Eventually(t, func() bool { return stateOf(t, svc.Store(), task.GUID) == tasklife.StateFailed }, waitFor, time.Millisecond)
}

// A cancel announced while the runner could not read the store ends the
// task once it can.
func TestACancelNotifiedDuringAnOutageEndsTheTaskOnceBack(t *testing.T) {
	t.Parallel()
	g := newGate()
	close(g.release)
	b := setup(t, g.work, runner.Config{PollInterval: time.Hour})
	b.warmUp(t)
	b.store.down.Store(true) // the runner cannot reach the store
	other := elsewhere(b)    // another instance can
	task, err := other.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	_, err = other.Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	b.r.Notify(task.GUID, tasklife.StateCanceling)
	require.Never(t, func() bool { return stateOf(t, b.store.Store, task.GUID) != tasklife.StateCanceling },
		50*time.Millisecond, time.Millisecond)
	b.store.down.Store(false)
	b.waitState(t, task.GUID, tasklife.StateFailed)
}

// A store that hangs cannot hold a stop up past Grace + StopTimeout.
func TestAStopIsBoundedWhenTheStoreHangs(t *testing.T) {
	t.Parallel()
	mem := memstore.New()
	h := &hooked{Store: mem}
	svc := tasklife.New(h)
	g := newGate()
	const n = 4
	stop := start(t, runner.New(svc, g.work, runner.Config{
		MaxRunning: n, Grace: 50 * time.Millisecond, StopTimeout: 50 * time.Millisecond, Logger: quiet(),
	}))
	for range n {
		task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
		require.NoError(t, err)
		g.awaitStart(t, task.GUID)
	}
	h.onTransition(func(ctx context.Context, _ tasklife.TransitionRequest) error {
		<-ctx.Done() // a database that does not answer
		return ctx.Err()
	})
	began := time.Now()
	err := stop()
	var ue *runner.UnrecordedError
	require.ErrorAs(t, err, &ue)
	require.Len(t, ue.Outcomes, n)
	// Far below one StoreTimeout (10s), however slow the machine.
	require.Less(t, time.Since(began), 5*time.Second)
}

// Run with a context that is already done starts nothing.
func TestRunWithADoneContextStartsNothing(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	var guids []string
	for range 4 {
		task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
		require.NoError(t, err)
		guids = append(guids, task.GUID)
	}
	r := runner.New(svc, func(context.Context, *tasklife.Task) error { return nil }, runner.Config{Logger: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, r.Run(ctx))
	for _, guid := range guids {
		require.Equal(t, tasklife.StatePending, stateOf(t, svc.Store(), guid))
	}
}

// Accept may use the Service: the runner calls it without its locks.
func TestAcceptMayUseTheService(t *testing.T) {
	t.Parallel()
	mem := memstore.New()
	svc := tasklife.New(mem)
	bad, err := tasklife.New(mem).Create(context.Background(), tasklife.NewTask{AppGUID: "app", Name: "bad", Command: "x"})
	require.NoError(t, err)
	start(t, runner.New(svc, func(context.Context, *tasklife.Task) error { return nil }, runner.Config{
		Logger: quiet(),
		Accept: func(task *tasklife.Task) bool {
			if task.Name == "bad" {
				_, _ = svc.Fail(context.Background(), task.GUID, "refused")
				return false
			}
			return true
		},
	}))
	good, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return stateOf(t, mem, good.GUID) == tasklife.StateSucceeded }, waitFor, time.Millisecond)
	require.Equal(t, tasklife.StateFailed, stateOf(t, mem, bad.GUID))
}
