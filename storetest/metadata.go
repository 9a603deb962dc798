package storetest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

func ptr(s string) *string { return &s }

// testUpdateMetadata: a patch merges, deletes with nil, moves updated_at
// and version only when it changes something, and does not reach
// observers.
func testUpdateMetadata(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	nt := b.newTask()
	nt.Labels = map[string]string{"keep": "1", "drop": "x", "env": "dev"}
	nt.Annotations = map[string]string{"note": "hi"}
	task, err := b.svc.Create(b.ctx, nt)
	require.NoError(t, err)
	seen := len(b.obs.list())

	got, err := b.svc.UpdateMetadata(b.ctx, task.GUID, tasklife.MetadataPatch{
		Labels:      map[string]*string{"drop": nil, "env": ptr("prod"), "new": ptr("")},
		Annotations: map[string]*string{"note": nil, "absent": nil, "more": ptr("a b c")},
	})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"keep": "1", "env": "prod", "new": ""}, got.Labels)
	require.Equal(t, map[string]string{"more": "a b c"}, got.Annotations)
	require.Equal(t, task.Version+1, got.Version)
	require.True(t, got.UpdatedAt.After(task.UpdatedAt))
	require.Equal(t, got, b.get(t, task.GUID))
	require.Len(t, b.obs.list(), seen, "a metadata change is not a lifecycle change")

	same, err := b.svc.UpdateMetadata(b.ctx, task.GUID, tasklife.MetadataPatch{
		Labels: map[string]*string{"env": ptr("prod"), "gone": nil},
	})
	require.NoError(t, err)
	require.Equal(t, got, same, "a patch that changes nothing writes nothing")

	cleared, err := b.svc.UpdateMetadata(b.ctx, task.GUID, tasklife.MetadataPatch{
		Labels: map[string]*string{"keep": nil, "env": nil, "new": nil}, Annotations: map[string]*string{"more": nil},
	})
	require.NoError(t, err)
	require.Nil(t, cleared.Labels, "no labels come back nil")
	require.Nil(t, cleared.Annotations)

	_, err = b.store.UpdateMetadata(b.ctx, "no-such-task", tasklife.MetadataPatch{Labels: map[string]*string{"a": ptr("b")}})
	require.ErrorIs(t, err, tasklife.ErrNotFound)
}

// testConcurrentMetadata: patches of distinct keys racing with each other
// and with a cancel all land.
func testConcurrentMetadata(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	task := b.createIn(t, tasklife.StateRunning)
	const n = 16
	concurrently(n+1, func(i int) {
		if i == n {
			_, err := b.svc.Cancel(b.ctx, task.GUID)
			require.NoError(t, err)
			return
		}
		_, err := b.svc.UpdateMetadata(b.ctx, task.GUID, tasklife.MetadataPatch{
			Labels: map[string]*string{fmt.Sprintf("k%d", i): ptr("v")},
		})
		require.NoError(t, err)
	})
	got := b.get(t, task.GUID)
	require.Len(t, got.Labels, n, "every patch landed")
	require.Equal(t, tasklife.StateCanceling, got.State, "and the cancel")
	require.Equal(t, task.Version+n+1, got.Version, "one version per write")
}

// testMetadataRules: the Service refuses keys and values Cloud Foundry
// refuses, and writes nothing.
func testMetadataRules(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	task := b.create(t)
	for _, patch := range []tasklife.MetadataPatch{
		{Labels: map[string]*string{"a b": ptr("x")}},
		{Labels: map[string]*string{"ok": ptr("-bad")}},
		{Labels: map[string]*string{"cloudfoundry.org/x": ptr("y")}},
		{Annotations: map[string]*string{"": ptr("y")}},
	} {
		_, err := b.svc.UpdateMetadata(b.ctx, task.GUID, patch)
		require.ErrorIs(t, err, tasklife.ErrInvalidInput, "%+v", patch)
	}
	require.Equal(t, task, b.get(t, task.GUID))
}
