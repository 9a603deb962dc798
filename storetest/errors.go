package storetest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

func testNotFound(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	missing := uuid.NewString()
	_, err := b.svc.Get(b.ctx, missing)
	require.ErrorIs(t, err, tasklife.ErrNotFound)
	_, err = b.store.Get(b.ctx, missing)
	require.ErrorIs(t, err, tasklife.ErrNotFound)
	for _, ev := range tasklife.Events() {
		_, err := b.svc.Apply(b.ctx, missing, ev, reason)
		require.ErrorIs(t, err, tasklife.ErrNotFound, "%s on a missing task", ev)
	}
	_, err = b.svc.Cancel(b.ctx, "not-a-uuid")
	require.ErrorIs(t, err, tasklife.ErrNotFound, "a malformed guid is simply not found")
	require.Empty(t, b.obs.list())
}

func testCanceledContext(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	task := b.createIn(t, tasklife.StateRunning)
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	_, err := b.svc.Cancel(ctx, task.GUID)
	require.ErrorIs(t, err, context.Canceled)
	_, err = b.svc.Create(ctx, tasklife.NewTask{AppGUID: b.app, Command: "true"})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, task, b.get(t, task.GUID), "an operation with a done context changes nothing")
	page, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: []string{b.app}})
	require.NoError(t, err)
	require.Equal(t, 1, page.TotalResults)
	// The same service keeps working: no FSM wedged by a cancelled context.
	got, err := b.svc.Cancel(b.ctx, task.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StateCanceling, got.State)
}
