package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

// testDeleteEnded: only ended tasks go, oldest first, at most limit a call;
// a deleted task is not found, lists and their totals skip it, and its
// app's sequence ids are not handed out again.
func testDeleteEnded(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	long := time.Now().Add(-24 * time.Hour)
	soon := time.Now().Add(24 * time.Hour)
	var tasks []*tasklife.Task
	for range 5 {
		tasks = append(tasks, b.create(t))
	}
	// Ended in this order: tasks[3] first, then tasks[0].
	_, err := b.svc.Fail(b.ctx, tasks[3].GUID, reason)
	require.NoError(t, err)
	_, err = b.svc.Start(b.ctx, tasks[0].GUID)
	require.NoError(t, err)
	_, err = b.svc.Succeed(b.ctx, tasks[0].GUID)
	require.NoError(t, err)
	_, err = b.svc.Start(b.ctx, tasks[1].GUID)
	require.NoError(t, err)
	_, err = b.svc.Cancel(b.ctx, tasks[2].GUID)
	require.NoError(t, err)

	n, err := b.store.DeleteEnded(b.ctx, long, 10)
	require.NoError(t, err)
	require.Zero(t, n, "nothing ended before the cutoff")

	n, err = b.store.DeleteEnded(b.ctx, soon, 1)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the limit bounds a call")
	_, err = b.svc.Get(b.ctx, tasks[3].GUID)
	require.ErrorIs(t, err, tasklife.ErrNotFound, "the oldest ended task goes first")
	_, err = b.svc.Get(b.ctx, tasks[0].GUID)
	require.NoError(t, err)

	deleted, err := b.svc.DeleteEnded(b.ctx, soon)
	require.NoError(t, err)
	require.Equal(t, 1, deleted)
	_, err = b.svc.Get(b.ctx, tasks[0].GUID)
	require.ErrorIs(t, err, tasklife.ErrNotFound)

	page, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: []string{b.app}, PerPage: 2, Page: 2})
	require.NoError(t, err)
	require.Equal(t, 3, page.TotalResults)
	require.Equal(t, []string{tasks[4].GUID}, guids(page.Tasks))
	page, err = b.svc.List(b.ctx, tasklife.ListQuery{States: []tasklife.State{tasklife.StateSucceeded, tasklife.StateFailed}, AppGUIDs: []string{b.app}})
	require.NoError(t, err)
	require.Zero(t, page.TotalResults)
	for _, task := range tasks[1:3] {
		_, err = b.svc.Get(b.ctx, task.GUID)
		require.NoError(t, err, "a task that has not ended stays")
	}

	next := b.create(t)
	require.Equal(t, int64(6), next.SequenceID, "sequence ids are never reused")
}

// testDeleteEndedPatched: a task patched after it ended has an UpdatedAt
// after the cutoff, and stays until a later cutoff; the tasks that ended
// after it but before the cutoff still go.
func testDeleteEndedPatched(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	patched, later := b.createIn(t, tasklife.StateFailed), b.createIn(t, tasklife.StateFailed)
	cutoff := later.UpdatedAt.Add(time.Millisecond)
	// The patch must come after the cutoff by the store's clock (this
	// machine's, for both stores here).
	require.Eventually(t, func() bool { return time.Now().After(cutoff) }, 10*time.Second, time.Millisecond)
	v := "kept"
	got, err := b.svc.UpdateMetadata(b.ctx, patched.GUID, tasklife.MetadataPatch{Labels: map[string]*string{"note": &v}})
	require.NoError(t, err)
	require.True(t, got.UpdatedAt.After(cutoff), "the patch moved UpdatedAt past the cutoff")

	n, err := b.svc.DeleteEnded(b.ctx, cutoff)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.svc.Get(b.ctx, later.GUID)
	require.ErrorIs(t, err, tasklife.ErrNotFound)
	_, err = b.svc.Get(b.ctx, patched.GUID)
	require.NoError(t, err, "a task patched after the cutoff stays")

	n, err = b.svc.DeleteEnded(b.ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.svc.Get(b.ctx, patched.GUID)
	require.ErrorIs(t, err, tasklife.ErrNotFound)
}
