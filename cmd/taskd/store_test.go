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
	succeeded := create("a")
	apply(succeeded, tasklife.EventStart, tasklife.EventSucceed)
	othersRunning := create("b")
	apply(othersRunning, tasklife.EventStart)
	for range tasklife.MaxPerPage {
		create("b")
	}
	pending2 := create("a") // on the second page

	pending, err := recoverTasks(ctx, svc, "a", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	var guids []string
	for _, p := range pending {
		guids = append(guids, p.GUID)
	}
	require.Equal(t, []string{pending1.GUID, pending2.GUID}, guids, "PENDING tasks of a, oldest first")
	for _, tc := range []struct {
		task   *tasklife.Task
		state  tasklife.State
		reason string
	}{
		{running, tasklife.StateFailed, tasklife.ReasonUnknownOutcome},
		{canceling, tasklife.StateFailed, tasklife.ReasonUnknownOutcome},
		{succeeded, tasklife.StateSucceeded, ""},
		{othersRunning, tasklife.StateRunning, ""},
		{pending1, tasklife.StatePending, ""},
	} {
		got, err := svc.Get(ctx, tc.task.GUID)
		require.NoError(t, err)
		require.Equal(t, tc.state, got.State)
		require.Equal(t, tc.reason, got.FailureReason)
	}
}
