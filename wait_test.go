package tasklife_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// waitResult is what a Wait in a goroutine returned.
type waitResult struct {
	task *tasklife.Task
	err  error
}

// goWait runs svc.Wait in a goroutine and returns once the waiter has read
// the task, so that a change made after goWait returns must wake it (and a
// context ended after it returns finds the task already read).
func goWait(t *testing.T, ctx context.Context, svc *tasklife.Service, guid string, until tasklife.WaitFor) <-chan waitResult {
	t.Helper()
	before := tasklife.WaitersThatReadOf(svc, guid)
	done := make(chan waitResult, 1)
	go func() {
		task, err := svc.Wait(ctx, guid, until)
		done <- waitResult{task, err}
	}()
	require.Eventually(t, func() bool { return tasklife.WaitersThatReadOf(svc, guid) > before }, 10*time.Second, time.Millisecond)
	return done
}

func receive(t *testing.T, ch <-chan waitResult) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return")
		return waitResult{}
	}
}

// noRecheck is a Service whose waits are woken only by changes: a test that
// passes with it was not saved by a recheck.
func noRecheck(store tasklife.Store) *tasklife.Service {
	return tasklife.New(store, tasklife.WithWaitRecheck(time.Hour))
}

func TestWaitReturnsAtOnceWhenAlreadyThere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := noRecheck(memstore.New())
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	got, err := svc.Wait(ctx, task.GUID, tasklife.WaitFor{States: []tasklife.State{tasklife.StatePending}})
	require.NoError(t, err)
	require.Equal(t, task.Version, got.Version)
	require.Zero(t, tasklife.WaitersOf(svc, task.GUID))
}

func TestWaitWokenByATransition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := noRecheck(memstore.New())
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	done := goWait(t, ctx, svc, task.GUID, tasklife.WaitFor{States: []tasklife.State{tasklife.StateSucceeded}})
	_, err = svc.Start(ctx, task.GUID)
	require.NoError(t, err)
	_, err = svc.Succeed(ctx, task.GUID)
	require.NoError(t, err)
	r := receive(t, done)
	require.NoError(t, r.err)
	require.Equal(t, tasklife.StateSucceeded, r.task.State)
	require.Zero(t, tasklife.WaitersOf(svc, task.GUID))
}

func TestWaitAfterVersionSeesMetadata(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := noRecheck(memstore.New())
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	done := goWait(t, ctx, svc, task.GUID, tasklife.WaitFor{AfterVersion: task.Version})
	v := "b"
	_, err = svc.UpdateMetadata(ctx, task.GUID, tasklife.MetadataPatch{Labels: map[string]*string{"a": &v}})
	require.NoError(t, err)
	r := receive(t, done)
	require.NoError(t, r.err)
	require.Equal(t, task.Version+1, r.task.Version)
	require.Equal(t, "b", r.task.Labels["a"])
}

// A task that ended in a state the caller did not name can never reach
// one: Wait returns it rather than wait forever.
func TestWaitReturnsAnEndedTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := noRecheck(memstore.New())
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	done := goWait(t, ctx, svc, task.GUID, tasklife.WaitFor{States: []tasklife.State{tasklife.StateRunning}})
	_, err = svc.Fail(ctx, task.GUID, "no")
	require.NoError(t, err)
	r := receive(t, done)
	require.NoError(t, r.err)
	require.Equal(t, tasklife.StateFailed, r.task.State)
}

// A change committed behind the Service's back (here through a second
// Service on the same store, as another process would) wakes its waiters
// when the host passes it on with Notify.
func TestWaitWokenByNotify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	svc, other := noRecheck(store), tasklife.New(store)
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	done := goWait(t, ctx, svc, task.GUID, tasklife.WaitFor{AfterVersion: task.Version})
	_, err = other.Cancel(ctx, task.GUID)
	require.NoError(t, err)
	select {
	case r := <-done:
		t.Fatalf("woken without a notification: %+v", r)
	default:
	}
	svc.Notify(task.GUID)
	r := receive(t, done)
	require.NoError(t, r.err)
	require.Equal(t, tasklife.StateCanceling, r.task.State)
}

// A lost notification costs at most the recheck interval.
func TestWaitRechecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	svc, other := tasklife.New(store, tasklife.WithWaitRecheck(10*time.Millisecond)), tasklife.New(store)
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	done := goWait(t, ctx, svc, task.GUID, tasklife.WaitFor{States: []tasklife.State{tasklife.StateCanceling}})
	_, err = other.Cancel(ctx, task.GUID)
	require.NoError(t, err)
	r := receive(t, done)
	require.NoError(t, r.err)
	require.Equal(t, tasklife.StateCanceling, r.task.State)
}

func TestWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	svc := noRecheck(memstore.New())
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := goWait(t, ctx, svc, task.GUID, tasklife.WaitFor{AfterVersion: task.Version})
	cancel()
	r := receive(t, done)
	require.ErrorIs(t, r.err, context.Canceled)
	require.Equal(t, task.Version, r.task.Version, "the task as last read")
	require.Zero(t, tasklife.WaitersOf(svc, task.GUID))
}

// A context that has ended before the first read: nothing was read.
func TestWaitWithAnEndedContext(t *testing.T) {
	t.Parallel()
	svc := noRecheck(memstore.New())
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := svc.Wait(ctx, task.GUID, tasklife.WaitFor{AfterVersion: task.Version})
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, got)
	require.Zero(t, tasklife.WaitersOf(svc, task.GUID))
}

func TestWaitBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	var ie *tasklife.InputError
	_, err = svc.Wait(ctx, task.GUID, tasklife.WaitFor{})
	require.True(t, errors.As(err, &ie), "%v", err)
	_, err = svc.Wait(ctx, task.GUID, tasklife.WaitFor{States: []tasklife.State{"DONE"}})
	require.True(t, errors.As(err, &ie), "%v", err)
	_, err = svc.Wait(ctx, "nope", tasklife.WaitFor{AfterVersion: 1})
	require.ErrorIs(t, err, tasklife.ErrNotFound)
	_, err = svc.Wait(ctx, "", tasklife.WaitFor{AfterVersion: 1})
	require.ErrorIs(t, err, tasklife.ErrNotFound)
	require.Zero(t, tasklife.WaitersOf(svc, task.GUID))
}
