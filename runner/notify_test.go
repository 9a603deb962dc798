package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/runner"
)

// elsewhere is a Service of another process on the same store: the
// runner's observer does not hear its changes.
func elsewhere(b *bundle) *tasklife.Service { return tasklife.New(b.store.Store) }

// A cancel made by another process reaches the work through Notify at once
// (with pgstore, Store.Listen calls it).
func TestNotifyDeliversACancelFromAnotherProcess(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, g.work, runner.Config{PollInterval: time.Hour})
	task := b.create(t, "remote")
	g.awaitStart(t, task.GUID)
	other := elsewhere(b)
	other.Observe(func(_ context.Context, c tasklife.Change) { b.r.Notify(c.Task.GUID, c.To) })
	_, err := other.Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	b.waitCanceled(t, task.GUID)
	require.ErrorIs(t, g.cause(task.GUID), runner.ErrCanceled)
}

// Without a notification, the poll finds the cancel of a task whose work
// runs here.
func TestPollFindsACancelNobodyAnnounced(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, g.work, runner.Config{PollInterval: 10 * time.Millisecond})
	task := b.create(t, "unannounced")
	g.awaitStart(t, task.GUID)
	_, err := elsewhere(b).Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	b.waitCanceled(t, task.GUID)
}

// A PENDING task of this runner's, cancelled by another process before the
// runner ever queued it, is ended by this runner when it hears of the
// cancel: no task stays CANCELING for want of an owner.
func TestNotifiedCancelOfAnUnqueuedTaskEndsIt(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, g.work, runner.Config{
		PollInterval: time.Hour,
		Accept:       func(t *tasklife.Task) bool { return t.Name != "foreign" },
	})
	g.ignore = false
	close(g.release)
	b.warmUp(t) // a Notify before Run is running is not heard
	other := elsewhere(b)
	mine, err := other.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Name: "mine", Command: "x"})
	require.NoError(t, err)
	foreign, err := other.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Name: "foreign", Command: "x"})
	require.NoError(t, err)
	for _, task := range []*tasklife.Task{mine, foreign} {
		_, err := other.Cancel(context.Background(), task.GUID)
		require.NoError(t, err)
		b.r.Notify(task.GUID, tasklife.StateCanceling)
	}
	b.waitCanceled(t, mine.GUID)
	require.Never(t, func() bool {
		f, _ := b.svc.Get(context.Background(), foreign.GUID)
		return f.State != tasklife.StateCanceling
	}, 50*time.Millisecond, time.Millisecond, "a task the runner does not accept is not its to end")
}

// Tasks created before Run, or by another process, are found by the poll
// and run in creation order.
func TestTasksCreatedElsewhereRunInCreationOrder(t *testing.T) {
	t.Parallel()
	g := newGate()
	close(g.release)
	b := setup(t, g.work, runner.Config{MaxRunning: 1, PollInterval: 10 * time.Millisecond})
	other := elsewhere(b)
	var guids []string
	for range 5 {
		task, err := other.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
		require.NoError(t, err)
		guids = append(guids, task.GUID)
	}
	var order []string
	for range guids {
		select {
		case guid := <-g.started:
			order = append(order, guid)
		case <-time.After(waitFor):
			t.Fatalf("only %d of %d tasks started", len(order), len(guids))
		}
	}
	require.Equal(t, guids, order)
	for _, guid := range guids {
		b.waitState(t, guid, tasklife.StateSucceeded)
	}
}
