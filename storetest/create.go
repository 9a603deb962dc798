package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

func testCreate(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	disk := int64(2048)
	logRate := int64(4096)
	before := time.Now().Add(-time.Second)
	task, err := b.svc.Create(b.ctx, tasklife.NewTask{
		AppGUID:                      b.app,
		Name:                         "migrate",
		Command:                      "bin/rake db:migrate",
		User:                         "vcap",
		MemoryInMB:                   512,
		DiskInMB:                     &disk,
		DropletGUID:                  "droplet-1",
		LogRateLimitInBytesPerSecond: &logRate,
		Labels:                       map[string]string{"team": "core"},
		Annotations:                  map[string]string{"note": "nightly"},
	})
	require.NoError(t, err)

	id, err := uuid.Parse(task.GUID)
	require.NoError(t, err, "guid must be a UUID")
	require.Equal(t, uuid.Version(4), id.Version(), "guid must be a UUID v4")
	require.Equal(t, strings.ToLower(task.GUID), task.GUID)
	require.Equal(t, b.app, task.AppGUID)
	require.Equal(t, int64(1), task.SequenceID)
	require.Equal(t, "migrate", task.Name)
	require.Equal(t, "bin/rake db:migrate", task.Command)
	require.Equal(t, "vcap", task.User)
	require.Equal(t, tasklife.StatePending, task.State)
	require.Equal(t, int64(512), task.MemoryInMB)
	require.NotNil(t, task.DiskInMB)
	require.Equal(t, int64(2048), *task.DiskInMB)
	require.Equal(t, int64(4096), task.LogRateLimitInBytesPerSecond)
	require.Equal(t, "droplet-1", task.DropletGUID)
	require.Empty(t, task.FailureReason)
	require.Equal(t, map[string]string{"team": "core"}, task.Labels)
	require.Equal(t, map[string]string{"note": "nightly"}, task.Annotations)
	require.Equal(t, int64(1), task.Version)
	require.True(t, task.CreatedAt.Equal(task.UpdatedAt), "created_at and updated_at start equal")
	require.True(t, task.CreatedAt.After(before), "created_at is now, got %v", task.CreatedAt)
	require.Equal(t, time.UTC, task.CreatedAt.Location(), "timestamps are UTC")
	require.Equal(t, task, b.get(t, task.GUID), "Get returns what Create returned")

	// Defaults: a generated name, unlimited log rate, no disk.
	task, err = b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: b.app, Command: "true"})
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{8}$`, task.Name)
	require.Equal(t, int64(-1), task.LogRateLimitInBytesPerSecond)
	require.Nil(t, task.DiskInMB)
	require.Empty(t, task.Labels)
	require.Equal(t, int64(2), task.SequenceID)

	// Bad input is refused with a typed error and creates nothing.
	bad := []tasklife.NewTask{
		{Command: "true"},
		{AppGUID: b.app},
		{AppGUID: b.app, Command: "true", MemoryInMB: -1},
		{AppGUID: b.app, Command: "true", Name: "bad\xff"},
		{AppGUID: b.app, Command: "nul\x00"},
	}
	for _, nt := range bad {
		_, err := b.svc.Create(b.ctx, nt)
		require.ErrorIs(t, err, tasklife.ErrInvalidInput, "%+v", nt)
		var ie *tasklife.InputError
		require.ErrorAs(t, err, &ie)
	}
	page, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: []string{b.app}})
	require.NoError(t, err)
	require.Equal(t, 2, page.TotalResults, "refused creates must not store anything")
}

func testSequenceIDsPerApp(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	other := uuid.NewString()
	for i := int64(1); i <= 3; i++ {
		a := b.create(t)
		require.Equal(t, i, a.SequenceID)
		o, err := b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: other, Command: "true"})
		require.NoError(t, err)
		require.Equal(t, i, o.SequenceID, "sequence ids count per app")
	}
}

func testConcurrentCreateSequenceIDs(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	const n = 40
	ids := make([]int64, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		task, err := b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: b.app, Command: "true"})
		errs[i] = err
		if err == nil {
			ids[i] = task.SequenceID
		}
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	slices.Sort(ids)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	require.Equal(t, want, ids, "concurrent creates for one app get 1..N, no gap, no duplicate")
}
