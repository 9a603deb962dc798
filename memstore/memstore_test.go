package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) tasklife.Store { return memstore.New() })
}

func TestAppsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunApps(t, func(*testing.T) tasklife.Store { return memstore.New() })
}

// TestLinearizability checks 500 concurrent histories with porcupine,
// among them a zombie owner's fenced writes racing the expiry of its
// leases.
func TestLinearizability(t *testing.T) {
	t.Parallel()
	rep := storetest.RunLinearizability(t, memstore.New(), storetest.LinOptions{Histories: 500})
	if rep.Histories != 500 {
		t.Fatalf("checked %d histories, want 500", rep.Histories)
	}
	if rep.Expired == 0 || rep.Fenced == 0 {
		t.Fatalf("no race of a zombie with the expiry: %d expiries, %d fenced writes refused", rep.Expired, rep.Fenced)
	}
}

func TestShardsFillCacheLines(t *testing.T) {
	t.Parallel()
	if s := memstore.ShardSizes(); s != [2]uintptr{64, 64} {
		t.Fatalf("shard sizes %v: each shard must fill exactly one 64-byte cache line", s)
	}
}

// TestWritesMoveUpdatedAtWithAStoppedClock: updated_at changes exactly when
// the task does, even when the clock has not moved (or went back).
func TestWritesMoveUpdatedAtWithAStoppedClock(t *testing.T) {
	t.Parallel()
	stopped := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	svc := tasklife.New(memstore.New(memstore.WithClock(func() time.Time { return stopped })))
	ctx := context.Background()
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true"})
	require.NoError(t, err)
	started, err := svc.Start(ctx, task.GUID)
	require.NoError(t, err)
	require.True(t, started.UpdatedAt.After(task.UpdatedAt))
	stopped = stopped.Add(-time.Hour) // the clock steps back
	canceling, err := svc.Cancel(ctx, task.GUID)
	require.NoError(t, err)
	require.True(t, canceling.UpdatedAt.After(started.UpdatedAt))
	again, err := svc.Cancel(ctx, task.GUID)
	require.NoError(t, err)
	require.Equal(t, canceling.UpdatedAt, again.UpdatedAt, "a no-op leaves updated_at alone")
}
