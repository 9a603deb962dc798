package runner_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/runner"
)

func TestOutcomes(t *testing.T) {
	t.Parallel()
	work := func(_ context.Context, t *tasklife.Task) error {
		switch t.Name {
		case "ok":
			return nil
		case "exit3":
			return runner.Failure("Exited with status 3", errors.New("exit status 3"))
		case "panic":
			panic("boom")
		}
		return fmt.Errorf("bad input %q", t.Name)
	}
	b := setup(t, work, runner.Config{})
	for name, want := range map[string]struct {
		state  tasklife.State
		reason string
	}{
		"ok":    {tasklife.StateSucceeded, ""},
		"exit3": {tasklife.StateFailed, "Exited with status 3"},
		"other": {tasklife.StateFailed, `bad input "other"`},
		"panic": {tasklife.StateFailed, "work panicked: boom"},
	} {
		task := b.create(t, name)
		got := b.waitState(t, task.GUID, want.state)
		require.Equal(t, want.reason, got.FailureReason, name)
	}
}

func TestCancelBeforeStartNeverRunsTheWork(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, g.work, runner.Config{MaxRunning: 1})
	busy := b.create(t, "busy") // holds the one slot
	g.awaitStart(t, busy.GUID)
	queued := b.create(t, "queued")
	_, err := b.svc.Cancel(context.Background(), queued.GUID)
	require.NoError(t, err)
	b.waitCanceled(t, queued.GUID)

	close(g.release)
	b.waitState(t, busy.GUID, tasklife.StateSucceeded)
	require.NoError(t, b.shutdown(t))
	for guid := range len(g.started) {
		_ = guid
		require.NotEqual(t, queued.GUID, <-g.started, "the cancelled task's work ran")
	}
}

func TestCancelWhileRunningCancelsTheContextWithTheCause(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, g.work, runner.Config{})
	task := b.create(t, "long")
	g.awaitStart(t, task.GUID)
	_, err := b.svc.Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	b.waitCanceled(t, task.GUID)
	require.ErrorIs(t, g.cause(task.GUID), runner.ErrCanceled)
}

func TestWorkThatIgnoresItsCancelIsRecordedAfterTheGrace(t *testing.T) {
	t.Parallel()
	g := newGate()
	g.ignore = true
	hardStopped := make(chan *tasklife.Task, 1)
	b := setup(t, g.work, runner.Config{
		MaxRunning: 1,
		Grace:      50 * time.Millisecond,
		HardStop:   func(t *tasklife.Task) { hardStopped <- t },
	})
	task := b.create(t, "stubborn")
	g.awaitStart(t, task.GUID)
	_, err := b.svc.Cancel(context.Background(), task.GUID)
	require.NoError(t, err)

	got := b.waitState(t, task.GUID, tasklife.StateFailed)
	require.Equal(t, tasklife.ReasonCanceled, got.FailureReason)
	select {
	case stopped := <-hardStopped:
		require.Equal(t, task.GUID, stopped.GUID)
	case <-time.After(waitFor):
		t.Fatal("HardStop was not called")
	}

	// The work still holds its slot: the next task waits for it.
	next := b.create(t, "next")
	require.Never(t, func() bool {
		n, _ := b.svc.Get(context.Background(), next.GUID)
		return n.State != tasklife.StatePending
	}, 50*time.Millisecond, time.Millisecond, "a task started while the stubborn work held the only slot")
	close(g.release)
	b.waitState(t, next.GUID, tasklife.StateSucceeded)
	final, err := b.svc.Get(context.Background(), task.GUID)
	require.NoError(t, err)
	require.Equal(t, got, final, "the late return changed nothing")
}

func TestWorkThatFinishesBeforeTheCancelKeepsSucceed(t *testing.T) {
	t.Parallel()
	// The work returns nil; before the runner can record that, a cancel
	// commits (the store is down for the runner, not for the canceller).
	// succeed on CANCELING is the truth: SUCCEEDED.
	returned := make(chan struct{})
	var b *bundle
	b = setup(t, func(ctx context.Context, _ *tasklife.Task) error {
		b.store.down.Store(true)
		close(returned)
		return nil
	}, runner.Config{})
	task := b.create(t, "quick")
	<-returned
	other := tasklife.New(b.store.Store) // another process, say
	canceling, err := other.Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StateCanceling, canceling.State)
	b.store.down.Store(false)
	got := b.waitState(t, task.GUID, tasklife.StateSucceeded)
	require.Empty(t, got.FailureReason)
}

func TestConcurrencyLimitHoldsUnderAThousandTasks(t *testing.T) {
	t.Parallel()
	const limit, tasks = 7, 1000
	var running, peak, ran atomic.Int64
	b := setup(t, func(ctx context.Context, _ *tasklife.Task) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		ran.Add(1)
		running.Add(-1)
		return nil
	}, runner.Config{MaxRunning: limit})
	var guids []string
	for i := range tasks {
		guids = append(guids, b.create(t, fmt.Sprint(i)).GUID)
	}
	for _, guid := range guids {
		b.waitState(t, guid, tasklife.StateSucceeded)
	}
	require.EqualValues(t, tasks, ran.Load())
	require.LessOrEqual(t, peak.Load(), int64(limit))
	require.Positive(t, peak.Load())
}

func TestShutdownRecordsEveryOutcome(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, g.work, runner.Config{MaxRunning: 2, CancelPendingOnStop: true})
	var tasks []*tasklife.Task
	for i := range 5 {
		tasks = append(tasks, b.create(t, fmt.Sprint(i)))
	}
	g.awaitStart(t, tasks[0].GUID)
	g.awaitStart(t, tasks[1].GUID)
	require.NoError(t, b.shutdown(t))
	for i, task := range tasks {
		got, err := b.svc.Get(context.Background(), task.GUID)
		require.NoError(t, err)
		require.Equal(t, tasklife.StateFailed, got.State, "task %d", i)
		require.Equal(t, tasklife.ReasonCanceled, got.FailureReason, "task %d", i)
	}
	require.ErrorIs(t, g.cause(tasks[0].GUID), runner.ErrShutdown)
}

// A result marked Completed stands even if the cancel reached the work
// before it returned: the work had finished first (taskd: the process had
// exited by itself).
func TestCompletedResultStandsAfterALateCancel(t *testing.T) {
	t.Parallel()
	for name, result := range map[string]error{
		"success": nil,
		"failure": runner.Failure("Exited with status 2", nil),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			started, canceled := make(chan struct{}), make(chan struct{})
			b := setup(t, func(ctx context.Context, _ *tasklife.Task) error {
				close(started)
				<-ctx.Done() // the cancel arrives while the work winds up
				close(canceled)
				return runner.Completed(result)
			}, runner.Config{})
			task := b.create(t, "finished")
			<-started // a cancel before the work starts would keep it from running
			_, err := b.svc.Cancel(context.Background(), task.GUID)
			require.NoError(t, err)
			<-canceled
			if result == nil {
				b.waitState(t, task.GUID, tasklife.StateSucceeded)
				return
			}
			got := b.waitState(t, task.GUID, tasklife.StateFailed)
			require.Equal(t, "Exited with status 2", got.FailureReason)
		})
	}
}

// Tasks created through the runner's Service while every slot is busy run
// in creation order once slots free up.
func TestTasksCreatedHereRunInCreationOrder(t *testing.T) {
	t.Parallel()
	order := make(chan string, 100)
	release := make(chan struct{})
	b := setup(t, func(_ context.Context, task *tasklife.Task) error {
		order <- task.GUID
		if task.Name == "first" {
			<-release
		}
		return nil
	}, runner.Config{MaxRunning: 1})
	guids := []string{b.create(t, "first").GUID}
	require.Equal(t, guids[0], <-order)
	for i := range 5 {
		guids = append(guids, b.create(t, fmt.Sprint(i)).GUID)
	}
	close(release)
	got := []string{guids[0]}
	for range 5 {
		select {
		case guid := <-order:
			got = append(got, guid)
		case <-time.After(waitFor):
			t.Fatalf("only %d of %d tasks started", len(got), len(guids))
		}
	}
	require.Equal(t, guids, got)
	for _, guid := range guids {
		b.waitState(t, guid, tasklife.StateSucceeded)
	}
}

// Bad input changes nothing: a nil Work is refused at once, and an
// unrecorded outcome whose event ends no task is dropped, not applied.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	require.PanicsWithValue(t, "runner: New needs a Work", func() { runner.New(svc, nil, runner.Config{}) })

	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	r := runner.New(svc, func(context.Context, *tasklife.Task) error { return nil }, runner.Config{
		Unrecorded: []runner.Outcome{{GUID: task.GUID, Event: tasklife.EventStart}},
		Logger:     quiet(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run records what it was handed, starts nothing, and stops
	require.NoError(t, r.Run(ctx))
	got, err := svc.Get(context.Background(), task.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StatePending, got.State)
	require.Equal(t, task.Version, got.Version)
	require.ErrorContains(t, r.Run(context.Background()), "Run may be called once")
}
