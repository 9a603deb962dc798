package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

func testAliasing(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	labels := map[string]string{"a": "1"}
	disk := int64(10)
	in := &tasklife.Task{
		AppGUID: b.app, Name: "n", Command: "true", LogRateLimitInBytesPerSecond: -1,
		DiskInMB: &disk, Labels: labels, Annotations: map[string]string{"x": "y"},
	}
	task, err := b.store.Create(b.ctx, in, nil)
	require.NoError(t, err)
	labels["a"] = "changed"
	labels["b"] = "added"
	in.Annotations["x"] = "changed"
	disk = 99
	stored := b.get(t, task.GUID)
	require.Equal(t, map[string]string{"a": "1"}, stored.Labels, "Create copies labels in")
	require.Equal(t, map[string]string{"x": "y"}, stored.Annotations, "Create copies annotations in")
	require.Equal(t, int64(10), *stored.DiskInMB, "Create copies disk_in_mb in")

	for name, out := range map[string]func() *tasklife.Task{
		"Create": func() *tasklife.Task { return task },
		"Get":    func() *tasklife.Task { return b.get(t, task.GUID) },
		"Transition": func() *tasklife.Task {
			got, err := b.svc.Start(b.ctx, task.GUID) // a no-op after the first call
			require.NoError(t, err)
			return got
		},
		"List": func() *tasklife.Task {
			page, err := b.svc.List(b.ctx, tasklife.ListQuery{GUIDs: []string{task.GUID}})
			require.NoError(t, err)
			require.Len(t, page.Tasks, 1)
			return page.Tasks[0]
		},
	} {
		got := out()
		got.Labels["a"] = "mutated by " + name
		got.Annotations["x"] = "mutated by " + name
		*got.DiskInMB = -5
		got.State = tasklife.StateFailed
		stored := b.get(t, task.GUID)
		require.Equal(t, map[string]string{"a": "1"}, stored.Labels, "%s copies labels out", name)
		require.Equal(t, map[string]string{"x": "y"}, stored.Annotations, "%s copies annotations out", name)
		require.Equal(t, int64(10), *stored.DiskInMB, "%s copies disk_in_mb out", name)
		require.NotEqual(t, tasklife.StateFailed, stored.State, "%s returns a copy", name)
	}
}
