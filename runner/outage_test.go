package runner_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/runner"
)

// A store that is down when the work ends delays the outcome, never loses
// it: the runner keeps trying until the store is back.
func TestOutcomeWaitsOutAnOutage(t *testing.T) {
	t.Parallel()
	g := newGate()
	g.linger = true
	b := setup(t, g.work, runner.Config{})
	ok := b.create(t, "succeeds")
	canceled := b.create(t, "canceled")
	g.awaitStart(t, ok.GUID)
	g.awaitStart(t, canceled.GUID)
	_, err := b.svc.Cancel(context.Background(), canceled.GUID)
	require.NoError(t, err)
	// The cancel has reached its work, which is still winding down.
	require.Eventually(t, func() bool { return g.cause(canceled.GUID) != nil }, waitFor, time.Millisecond)
	// The store goes down before either outcome is recorded.
	b.store.down.Store(true)
	close(g.release)
	// Down for a while: several tries fail.
	require.Never(t, func() bool {
		got, _ := b.store.Store.Get(context.Background(), ok.GUID)
		return got.State != tasklife.StateRunning
	}, 300*time.Millisecond, 10*time.Millisecond)
	b.store.down.Store(false)
	b.waitState(t, ok.GUID, tasklife.StateSucceeded)
	b.waitCanceled(t, canceled.GUID)
}

// A task accepted while the store is briefly down for its start is started
// once it is back, never failed.
func TestStartWaitsOutAnOutage(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, g.work, runner.Config{PollInterval: time.Hour})
	close(g.release)
	b.warmUp(t) // Run's first list is over: only the observer hears of the task
	// Down the moment the create commits, before the runner hears of it.
	b.store.downAfterCreate.Store(true)
	task := b.create(t, "patient")
	require.Never(t, func() bool {
		got, _ := b.store.Store.Get(context.Background(), task.GUID)
		return got.State != tasklife.StatePending
	}, 200*time.Millisecond, 10*time.Millisecond)
	b.store.down.Store(false)
	g.awaitStart(t, task.GUID)
	b.waitState(t, task.GUID, tasklife.StateSucceeded)
}

// A runner that must stop while the store is down returns the outcomes it
// could not record, and a runner given them records them: a task that
// succeeded is never reported as anything else.
func TestUnrecordedOutcomesPassToTheNextRun(t *testing.T) {
	t.Parallel()
	g := newGate()
	returned := make(chan struct{})
	var b *bundle
	b = setup(t, func(ctx context.Context, task *tasklife.Task) error {
		g.started <- task.GUID
		<-g.release
		b.store.down.Store(true) // it succeeds while the store is down
		close(returned)
		// Completed: the stop that follows must not make it canceled.
		return runner.Completed(nil)
	}, runner.Config{StopTimeout: 100 * time.Millisecond})
	task := b.create(t, "orphan")
	g.awaitStart(t, task.GUID)
	close(g.release)
	<-returned

	err := b.shutdown(t)
	var ue *runner.UnrecordedError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, []runner.Outcome{{GUID: task.GUID, Name: "orphan", Event: tasklife.EventSucceed, Owner: b.r.Owner()}}, ue.Outcomes)
	require.Contains(t, ue.Error(), task.GUID)
	got, err := b.store.Store.Get(context.Background(), task.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StateRunning, got.State, "nothing reached the store")

	b.store.down.Store(false)
	next := runner.New(b.svc, g.work, runner.Config{
		Unrecorded: ue.Outcomes,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- next.Run(ctx) }()
	b.waitState(t, task.GUID, tasklife.StateSucceeded)
	stop()
	require.NoError(t, <-done)
}
