package memstore_test

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// chunk is how many RUNNING tasks a benchmark prepares, timer stopped, before
// it cancels them; it bounds memory however large b.N grows.
const chunk = 1 << 16

func runningTasks(b *testing.B, svc *tasklife.Service, n int) []string {
	b.Helper()
	ctx := context.Background()
	guids := make([]string, n)
	for i := range guids {
		t, err := svc.Create(ctx, tasklife.NewTask{AppGUID: fmt.Sprintf("app-%d", i%64), Command: "true"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.Start(ctx, t.GUID); err != nil {
			b.Fatal(err)
		}
		guids[i] = t.GUID
	}
	return guids
}

// BenchmarkCancel measures one RUNNING -> CANCELING transition through the
// public API (Service.Cancel over memstore) against a baseline doing the same
// read-modify-write of an equivalent struct in a sharded mutex-guarded map
// with the same keys.
func BenchmarkCancel(b *testing.B) {
	ctx := context.Background()
	b.Run("memstore", func(b *testing.B) {
		b.ReportAllocs()
		svc := tasklife.New(memstore.New())
		for done := 0; done < b.N; {
			b.StopTimer()
			guids := runningTasks(b, svc, min(chunk, b.N-done))
			runtime.GC() // the setup's garbage is not the operation's
			b.StartTimer()
			for _, g := range guids {
				t, err := svc.Cancel(ctx, g)
				if err != nil || t.State != tasklife.StateCanceling {
					b.Fatal(err)
				}
			}
			done += len(guids)
		}
	})
	b.Run("baseline-mutexmap", func(b *testing.B) {
		b.ReportAllocs()
		m := newMutexMap()
		for done := 0; done < b.N; {
			b.StopTimer()
			guids := runningTasks(b, tasklife.New(memstore.New()), min(chunk, b.N-done))
			for _, g := range guids {
				m.put(g)
			}
			runtime.GC()
			b.StartTimer()
			for _, g := range guids {
				t, ok := m.cancel(g)
				if !ok || t.State != tasklife.StateCanceling {
					b.Fatal("baseline cancel failed")
				}
			}
			done += len(guids)
		}
	})
}

// BenchmarkCancelParallel measures cancels of disjoint tasks from
// GOMAXPROCS goroutines; run it with -cpu 1,2 to see how it scales.
func BenchmarkCancelParallel(b *testing.B) {
	b.Run("memstore", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		svc := tasklife.New(memstore.New())
		b.StopTimer()
		// Goroutines claim tasks in blocks, so that a shared counter
		// bouncing between CPUs is not what the benchmark measures.
		const block = 256
		guids := runningTasks(b, svc, b.N+block*runtime.GOMAXPROCS(0))
		var next atomic.Int64
		runtime.GC()
		b.StartTimer()
		b.RunParallel(func(pb *testing.PB) {
			var i, end int64
			for pb.Next() {
				if i == end {
					end = next.Add(block)
					i = end - block
				}
				if _, err := svc.Cancel(ctx, guids[i]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkMemory reports what one stored task costs in memory at a million
// tasks: a 36-byte guid, an 8-byte name and a 20-byte command, with the
// list indexes built (by one list).
func BenchmarkMemory(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	apps := make([]string, 1000)
	for i := range apps {
		apps[i] = fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
	}
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		store := memstore.New()
		svc := tasklife.New(store)
		for i := range n {
			_, err := svc.Create(ctx, tasklife.NewTask{
				AppGUID: apps[i%len(apps)],
				Name:    fmt.Sprintf("t%07d", i%10_000_000),
				Command: fmt.Sprintf("bin/run --job %07d", i%10_000_000),
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		if _, err := svc.List(ctx, tasklife.ListQuery{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/task")
		runtime.KeepAlive(store)
		b.StartTimer()
	}
}

// baselineTask mirrors the fields memstore keeps per task.
type baselineTask struct {
	GUID, AppGUID, Name, Command, User, DropletGUID, FailureReason string
	State                                                          tasklife.State
	SequenceID, MemoryInMB, LogRate, Version                       int64
	DiskInMB                                                       *int64
	Labels, Annotations                                            map[string]string
	CreatedAt, UpdatedAt                                           time.Time
}

type mutexShard struct {
	mu sync.Mutex
	m  map[string]*baselineTask
	_  [48]byte
}

// mutexMap is the baseline: a sharded map of mutex-guarded structs and a
// read-modify-write with the same guard, the same fields and a copy out.
type mutexMap struct {
	seed   maphash.Seed
	shards [64]mutexShard
}

func newMutexMap() *mutexMap {
	m := &mutexMap{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = map[string]*baselineTask{}
	}
	return m
}

func (m *mutexMap) shard(k string) *mutexShard {
	return &m.shards[maphash.String(m.seed, k)%64]
}

func (m *mutexMap) put(guid string) {
	s := m.shard(guid)
	s.mu.Lock()
	s.m[guid] = &baselineTask{GUID: guid, State: tasklife.StateRunning, Version: 2}
	s.mu.Unlock()
}

var cancelFrom = []tasklife.State{tasklife.StatePending, tasklife.StateRunning}

func (m *mutexMap) cancel(guid string) (baselineTask, bool) {
	s := m.shard(guid)
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[guid]
	if !ok || !slices.Contains(cancelFrom, t.State) {
		return baselineTask{}, false
	}
	t.State = tasklife.StateCanceling
	t.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	t.Version++
	return *t, true
}
