package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// TestRecoverTasks leaves tasks of two instances in every state, more than
// one page of them, and recovers instance a.
func TestRecoverTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	create := func(owner string) *tasklife.Task {
		t.Helper()
		task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true", Annotations: map[string]string{ownerKey: owner}})
		require.NoError(t, err)
		return task
	}
	apply := func(task *tasklife.Task, events ...tasklife.Event) {
		t.Helper()
		for _, ev := range events {
			_, err := svc.Apply(ctx, task.GUID, ev, "failed")
			require.NoError(t, err)
		}
	}
	pending1 := create("a")
	running := create("a")
	apply(running, tasklife.EventStart)
	canceling := create("a")
	apply(canceling, tasklife.EventStart, tasklife.EventCancel)
	canceledQueued := create("a") // left PENDING at shutdown, then canceled
	apply(canceledQueued, tasklife.EventCancel)
	canceledStarting := create("a") // canceled while its gate was still shut
	apply(canceledStarting, tasklife.EventCancel)
	runningUnrecorded := create("a")
	apply(runningUnrecorded, tasklife.EventStart)
	recorded := map[string]bool{running.GUID: true, canceling.GUID: true, canceledStarting.GUID: true}
	succeeded := create("a")
	apply(succeeded, tasklife.EventStart, tasklife.EventSucceed)
	othersRunning := create("b")
	apply(othersRunning, tasklife.EventStart)
	for range tasklife.MaxPerPage {
		create("b")
	}
	pending2 := create("a")     // on the second page
	knownOutcome := create("a") // its outcome was kept: the runner records it
	apply(knownOutcome, tasklife.EventStart)

	known := map[string]bool{knownOutcome.GUID: true}
	err := recoverTasks(ctx, svc, "a", known, func(guid string) bool { return recorded[guid] }, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	for _, tc := range []struct {
		task   *tasklife.Task
		state  tasklife.State
		reason string
	}{
		{running, tasklife.StateFailed, tasklife.ReasonUnknownOutcome},
		{canceling, tasklife.StateFailed, tasklife.ReasonUnknownOutcome},
		{canceledQueued, tasklife.StateFailed, tasklife.ReasonCanceled},
		{canceledStarting, tasklife.StateFailed, tasklife.ReasonUnknownOutcome},
		{runningUnrecorded, tasklife.StateFailed, tasklife.ReasonUnknownOutcome},
		{succeeded, tasklife.StateSucceeded, ""},
		{othersRunning, tasklife.StateRunning, ""},
		{pending1, tasklife.StatePending, ""},
		{pending2, tasklife.StatePending, ""},
		{knownOutcome, tasklife.StateRunning, ""},
	} {
		got, err := svc.Get(ctx, tc.task.GUID)
		require.NoError(t, err)
		require.Equal(t, tc.state, got.State)
		require.Equal(t, tc.reason, got.FailureReason)
	}
}

func TestSettle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		state      tasklife.State
		mayHaveRun bool
		event      tasklife.Event
		reason     string
	}{
		{"running, recorded", tasklife.StateRunning, true, tasklife.EventFail, tasklife.ReasonUnknownOutcome},
		{"running, record lost with the state directory", tasklife.StateRunning, false, tasklife.EventFail, tasklife.ReasonUnknownOutcome},
		{"canceling, recorded: it may have run", tasklife.StateCanceling, true, tasklife.EventFail, tasklife.ReasonUnknownOutcome},
		{"canceling, never started", tasklife.StateCanceling, false, tasklife.EventCanceled, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, reason := settle(tc.state, tc.mayHaveRun)
			require.Equal(t, tc.event, ev)
			require.Equal(t, tc.reason, reason)
		})
	}
}
