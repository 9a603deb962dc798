package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// TestRecoverTasks leaves tasks of earlier starts of instance a, of its
// current start, and of others, in every state, more than one page of
// them, and recovers instance a.
func TestRecoverTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	create := func() *tasklife.Task {
		t.Helper()
		task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true"})
		require.NoError(t, err)
		return task
	}
	// claimed returns a new task that owner claimed, then moved by events.
	claimed := func(owner string, events ...tasklife.Event) *tasklife.Task {
		t.Helper()
		task := create()
		got, err := svc.Claim(ctx, tasklife.ClaimRequest{Owner: owner, Lease: time.Hour, Limit: 1, GUIDs: []string{task.GUID}})
		require.NoError(t, err)
		require.Len(t, got, 1)
		for _, ev := range events {
			_, err := svc.Apply(ctx, task.GUID, ev, "failed")
			require.NoError(t, err)
		}
		return task
	}
	pending1 := create()
	running := claimed("a#old")
	canceling := claimed("a#old", tasklife.EventCancel)
	cancelingNeverRan := claimed("a#old", tasklife.EventCancel) // canceled while its gate was still shut
	runningUnrecorded := claimed("a#older")
	recorded := map[string]bool{running.GUID: true, canceling.GUID: true}
	canceledQueued := create() // canceled while PENDING: any instance ends it
	_, err := svc.Cancel(ctx, canceledQueued.GUID)
	require.NoError(t, err)
	succeeded := claimed("a#old", tasklife.EventSucceed)
	current := claimed("a#now")
	othersRunning := claimed("b#x")
	similarName := claimed("ab#x")
	for range tasklife.MaxPerPage {
		claimed("b#x", tasklife.EventCancel)
	}
	pending2 := create()               // on the second page
	knownOutcome := claimed("a#older") // its outcome was kept: the runner records it

	known := map[string]bool{knownOutcome.GUID: true}
	e := &executor{instance: "a", owner: "a#now"}
	err = recoverTasks(ctx, svc, e, known, func(guid string) bool { return recorded[guid] }, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	for _, tc := range []struct {
		task   *tasklife.Task
		state  tasklife.State
		reason string
	}{
		{running, tasklife.StateFailed, tasklife.ReasonUnknownOutcome},
		{canceling, tasklife.StateFailed, tasklife.ReasonUnknownOutcome},
		{cancelingNeverRan, tasklife.StateFailed, tasklife.ReasonCanceled},
		{runningUnrecorded, tasklife.StateFailed, tasklife.ReasonUnknownOutcome},
		{canceledQueued, tasklife.StateFailed, tasklife.ReasonCanceled},
		{succeeded, tasklife.StateSucceeded, ""},
		{current, tasklife.StateRunning, ""},
		{othersRunning, tasklife.StateRunning, ""},
		{similarName, tasklife.StateRunning, ""},
		{pending1, tasklife.StatePending, ""},
		{pending2, tasklife.StatePending, ""},
		{knownOutcome, tasklife.StateRunning, ""},
	} {
		got, err := svc.Get(ctx, tc.task.GUID)
		require.NoError(t, err)
		require.Equal(t, tc.state, got.State, "%+v", got)
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
