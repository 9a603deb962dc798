package memstore_test

import (
	"testing"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) tasklife.Store { return memstore.New() })
}

// TestLinearizability checks 500 concurrent histories with porcupine.
func TestLinearizability(t *testing.T) {
	t.Parallel()
	rep := storetest.RunLinearizability(t, memstore.New(), storetest.LinOptions{Histories: 500})
	if rep.Histories != 500 {
		t.Fatalf("checked %d histories, want 500", rep.Histories)
	}
}

func TestShardsFillCacheLines(t *testing.T) {
	t.Parallel()
	if s := memstore.ShardSizes(); s != [2]uintptr{64, 64} {
		t.Fatalf("shard sizes %v: each shard must fill exactly one 64-byte cache line", s)
	}
}
