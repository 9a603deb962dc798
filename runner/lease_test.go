package runner_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/runner"
)

// Several runners on one memstore behave as several instances on one
// database: they share the PENDING tasks, each task's work runs once, on
// the runner that claimed it.
func TestRunnersShareTheWork(t *testing.T) {
	t.Parallel()
	mem := memstore.New()
	var mu sync.Mutex
	ranBy := map[string][]string{}
	release := make(chan struct{})
	var runners []*runner.Runner
	for range 2 {
		svc := tasklife.New(mem)
		var r *runner.Runner
		r = runner.New(svc, func(_ context.Context, task *tasklife.Task) error {
			mu.Lock()
			ranBy[task.GUID] = append(ranBy[task.GUID], r.Owner())
			mu.Unlock()
			<-release
			return nil
		}, runner.Config{MaxRunning: 2, PollInterval: 5 * time.Millisecond, Logger: quiet()})
		runners = append(runners, r)
		start(t, r)
	}
	creator := tasklife.New(mem) // a process with no runner
	var guids []string
	for range 4 {
		task, err := creator.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
		require.NoError(t, err)
		guids = append(guids, task.GUID)
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ranBy) == 4 // two slots on each runner: both take part
	}, waitFor, time.Millisecond)
	close(release)
	for _, guid := range guids {
		require.Eventually(t, func() bool { return stateOf(t, mem, guid) == tasklife.StateSucceeded }, waitFor, time.Millisecond)
		got, err := mem.Get(context.Background(), guid)
		require.NoError(t, err)
		mu.Lock()
		require.Equal(t, []string{got.Owner}, ranBy[guid], "run once, by its owner")
		mu.Unlock()
	}
	require.NotEqual(t, runners[0].Owner(), runners[1].Owner())
}

// The tasks of a runner that died (it claimed them and stopped renewing)
// are ended by a live runner once the lease runs out; the PENDING tasks it
// would have run are run by the live one.
func TestADeadRunnersTasksEndAndItsQueueRunsElsewhere(t *testing.T) {
	t.Parallel()
	mem := memstore.New()
	dead := tasklife.New(mem)
	for range 2 {
		_, err := dead.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
		require.NoError(t, err)
	}
	lost, err := dead.Claim(context.Background(), tasklife.ClaimRequest{Owner: "dead", Lease: 50 * time.Millisecond, Limit: 1})
	require.NoError(t, err)
	queued, err := dead.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)

	svc := tasklife.New(mem)
	g := newGate()
	close(g.release)
	start(t, runner.New(svc, g.work, runner.Config{PollInterval: 5 * time.Millisecond, Logger: quiet()}))
	require.Eventually(t, func() bool { return stateOf(t, mem, lost[0].GUID) == tasklife.StateFailed }, waitFor, time.Millisecond)
	got, err := mem.Get(context.Background(), lost[0].GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.ReasonUnknownOutcome, got.FailureReason)
	require.Eventually(t, func() bool { return stateOf(t, mem, queued.GUID) == tasklife.StateSucceeded }, waitFor, time.Millisecond)
}

// stalled is a store that a runner cannot write through while stalled is
// set: a runner paused (SIGSTOP, a long GC) for longer than its lease, as
// the other runners see it.
type stalled struct {
	tasklife.Store
	stalled atomic.Bool
}

func (s *stalled) Renew(ctx context.Context, owner string, lease time.Duration) ([]string, error) {
	if s.stalled.Load() {
		return nil, tasklife.ErrUnavailable
	}
	return s.Store.Renew(ctx, owner, lease)
}

func (s *stalled) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	if s.stalled.Load() {
		return tasklife.TransitionResult{}, tasklife.ErrUnavailable
	}
	return s.Store.Transition(ctx, req)
}

// A runner that could not renew for longer than its lease lost its task to
// another runner's expiry. When it can reach the store again it learns so:
// work still running is stopped (context.Cause is ErrTaskEnded), and the
// outcome of work that ended during the pause is refused. Either way the
// task has one outcome, the one the expiry gave it.
func TestAPausedRunnerLosesItsTask(t *testing.T) {
	t.Parallel()
	for _, finished := range []bool{false, true} {
		name := map[bool]string{false: "work-still-running", true: "work-finished-during-the-pause"}[finished]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mem := memstore.New()
			paused := &stalled{Store: mem}
			g := newGate()
			g.linger = true
			zombie := runner.New(tasklife.New(paused), g.work, runner.Config{
				Lease: 150 * time.Millisecond, PollInterval: time.Hour, Logger: quiet(),
			})
			start(t, zombie)
			task, err := tasklife.New(mem).Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
			require.NoError(t, err)
			zombie.Notify(task.GUID, tasklife.StatePending) // created elsewhere; polls are an hour apart
			g.awaitStart(t, task.GUID)

			paused.stalled.Store(true)
			if finished {
				close(g.release) // its outcome cannot be written while paused
			}
			other := tasklife.New(mem) // another instance's sweep
			require.Eventually(t, func() bool {
				ended, err := other.Expire(context.Background(), tasklife.ExpireRequest{Limit: 10})
				require.NoError(t, err)
				return len(ended) == 1
			}, waitFor, time.Millisecond)
			ended, err := mem.Get(context.Background(), task.GUID)
			require.NoError(t, err)
			require.Equal(t, tasklife.ReasonUnknownOutcome, ended.FailureReason)

			paused.stalled.Store(false) // it wakes up
			if !finished {
				require.Eventually(t, func() bool { return g.cause(task.GUID) != nil }, waitFor, time.Millisecond)
				require.ErrorIs(t, g.cause(task.GUID), runner.ErrTaskEnded)
				close(g.release) // its work returns late
			}
			require.Never(t, func() bool {
				got, err := mem.Get(context.Background(), task.GUID)
				return err != nil || got.Version != ended.Version
			}, 200*time.Millisecond, 5*time.Millisecond, "the paused runner's late write landed")
		})
	}
}

// Work that ignores its cancel, on a host whose HardStop cannot stop it,
// still has its task ended by the cancel deadline, and its runner is told
// to hard-stop it at once.
func TestTheCancelDeadlineEndsATaskHardStopCannotStop(t *testing.T) {
	t.Parallel()
	g := newGate()
	g.ignore = true
	defer close(g.release)
	hardStops := make(chan string, 10)
	b := setup(t, g.work, runner.Config{
		Grace: time.Hour, CancelDeadline: 100 * time.Millisecond, PollInterval: 5 * time.Millisecond,
		HardStop:    func(task *tasklife.Task) { hardStops <- task.GUID }, // does nothing
		StopTimeout: 10 * time.Millisecond,
	})
	task := b.create(t, "stubborn")
	g.awaitStart(t, task.GUID)
	_, err := b.svc.Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	b.waitCanceled(t, task.GUID)
	select {
	case guid := <-hardStops:
		require.Equal(t, task.GUID, guid)
	case <-time.After(waitFor):
		t.Fatal("HardStop was never called")
	}
}

// Work that runs past its maximum run time has its context cancelled with
// ErrTimedOut, and its task ends FAILED with ReasonTimedOut; Timeout gives
// a task its own limit.
func TestMaxRunTime(t *testing.T) {
	t.Parallel()
	g := newGate()
	defer close(g.release)
	b := setup(t, g.work, runner.Config{
		MaxRunTime: time.Hour,
		Timeout: func(task *tasklife.Task) time.Duration {
			if task.Name == "quick" {
				return 20 * time.Millisecond
			}
			return 0
		},
	})
	slow, quick := b.create(t, "slow"), b.create(t, "quick")
	got := b.waitState(t, quick.GUID, tasklife.StateFailed)
	require.Equal(t, tasklife.ReasonTimedOut, got.FailureReason)
	require.ErrorIs(t, g.cause(quick.GUID), runner.ErrTimedOut)
	require.Equal(t, tasklife.StateRunning, stateOf(t, b.store.Store, slow.GUID), "MaxRunTime is the default")
}

// A task PENDING for longer than its expiry ends FAILED "Task expired in
// PENDING state", and is never run.
func TestPendingExpiry(t *testing.T) {
	t.Parallel()
	g := newGate()
	defer close(g.release)
	b := setup(t, g.work, runner.Config{MaxRunning: 1, PendingExpiry: 50 * time.Millisecond, PollInterval: 5 * time.Millisecond})
	busy := b.create(t, "busy")
	g.awaitStart(t, busy.GUID)
	waiting := b.create(t, "waiting")
	got := b.waitState(t, waiting.GUID, tasklife.StateFailed)
	require.Equal(t, tasklife.ReasonExpired, got.FailureReason)
	require.Equal(t, tasklife.StateRunning, stateOf(t, b.store.Store, busy.GUID), "a RUNNING task does not expire so")
}

// CancelPendingOnStop cancels the PENDING tasks it listed; one that another
// runner claimed meanwhile runs there, and is not ended under its work:
// its outcome is its owner's. Claimed after the list, or between the
// canceled outcome's first try and the cancel it commits.
func TestCancelPendingOnStopLeavesATaskClaimedMeanwhile(t *testing.T) {
	t.Parallel()
	for _, when := range []string{"after-the-list", "before-the-cancel"} {
		t.Run(when, func(t *testing.T) {
			t.Parallel()
			mem := memstore.New()
			h := &hooked{Store: mem}
			svc := tasklife.New(h)
			g := newGate()
			stop := start(t, runner.New(svc, g.work, runner.Config{
				MaxRunning: 1, PollInterval: time.Hour, CancelPendingOnStop: true, Logger: quiet(),
			}))
			busy, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
			require.NoError(t, err)
			g.awaitStart(t, busy.GUID) // it holds the one slot
			queued, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
			require.NoError(t, err)
			var once sync.Once
			claim := func() { // another instance claims it
				once.Do(func() {
					claimed, err := tasklife.New(mem).Claim(context.Background(),
						tasklife.ClaimRequest{Owner: "other", Lease: time.Hour, Limit: 1})
					if err != nil || len(claimed) != 1 || claimed[0].GUID != queued.GUID {
						t.Errorf("the other instance claimed %v, %v", claimed, err)
					}
				})
			}
			if when == "after-the-list" {
				h.onList(func(q tasklife.ListQuery, p *tasklife.Page) {
					if len(q.States) == 1 && q.States[0] == tasklife.StatePending && len(p.Tasks) > 0 {
						claim()
					}
				})
			} else {
				h.onTransition(func(_ context.Context, req tasklife.TransitionRequest) error {
					if req.GUID == queued.GUID && req.Event == tasklife.EventCancel {
						claim()
					}
					return nil
				})
			}
			require.NoError(t, stop())
			got, err := mem.Get(context.Background(), queued.GUID)
			require.NoError(t, err)
			require.Equal(t, "other", got.Owner)
			require.False(t, got.State.Terminal(), "ended under its owner's work: %s %q", got.State, got.FailureReason)
		})
	}
}
