package memstore_test

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// cancelStoreSize is how many RUNNING tasks each store BenchmarkCancel
// cancels from holds, whatever b.N: the benchmark measures a cancel on a
// store of that size, not on one that grows with the run (and whose
// growing heap the garbage collector would bring into the measurement).
const cancelStoreSize = 1 << 16

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

// shuffled returns guids in an order of their own: the tasks of a store
// are canceled in no particular order, since walking them in the order
// they were allocated would measure the prefetcher.
func shuffled(guids []string) []string {
	guids = slices.Clone(guids)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(guids), func(i, j int) { guids[i], guids[j] = guids[j], guids[i] })
	return guids
}

// BenchmarkCancel measures one RUNNING -> CANCELING transition through the
// public API (Service.Cancel over memstore) against a baseline doing the same
// read-modify-write of an equivalent struct in a sharded mutex-guarded map
// with the same keys (its own copies, as a map keeps them).
//
// Both sides cancel from stores of cancelStoreSize tasks, a fresh pair
// every cancelStoreSize cancels, prepared (and the previous pair collected)
// with the timer stopped, in no particular order. They take turns, a block
// of cancelBlock at a time, so that a burst of load from elsewhere on the
// machine falls on both: ns/op and allocs/op are memstore's, the baseline's
// time is reported as mutexmap-ns/op and the ratio of the two as x-mutexmap.
func BenchmarkCancel(b *testing.B) {
	const cancelBlock = 1024
	ctx := context.Background()
	b.ReportAllocs()
	var baseline time.Duration
	b.StopTimer()
	for done := 0; done < b.N; {
		svc := tasklife.New(memstore.New())
		guids := runningTasks(b, svc, cancelStoreSize)
		m := newMutexMap()
		for _, g := range guids {
			m.put(g)
		}
		guids = shuffled(guids)[:min(cancelStoreSize, b.N-done)]
		runtime.GC() // the setup's garbage is not the operation's
		for block := range slices.Chunk(guids, cancelBlock) {
			b.StartTimer()
			for _, g := range block {
				t, err := svc.Cancel(ctx, g)
				if err != nil || t.State != tasklife.StateCanceling {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			start := time.Now()
			for _, g := range block {
				t, ok := m.cancel(g)
				if !ok || t.State != tasklife.StateCanceling {
					b.Fatal("baseline cancel failed")
				}
			}
			baseline += time.Since(start)
		}
		done += len(guids)
	}
	b.ReportMetric(float64(baseline.Nanoseconds())/float64(b.N), "mutexmap-ns/op")
	b.ReportMetric(float64(b.Elapsed())/float64(baseline), "x-mutexmap")
}

// BenchmarkCancelParallel measures cancels of disjoint tasks from
// GOMAXPROCS goroutines at once; run it with -cpu 1,2 to see how it
// scales. Like BenchmarkCancel, it cancels from stores of cancelStoreSize
// tasks in no particular order; each goroutine cancels its own share of
// each store's tasks. The mutex map does the same, for how far the machine
// lets work like this scale: each cancel is a handful of reads from memory
// no cache holds.
func BenchmarkCancelParallel(b *testing.B) {
	ctx := context.Background()
	b.Run("memstore", func(b *testing.B) {
		b.ReportAllocs()
		cancelInParallel(b, func(guids []string) func(string) error {
			svc := tasklife.New(memstore.New())
			copy(guids, runningTasks(b, svc, len(guids)))
			return func(g string) error {
				_, err := svc.Cancel(ctx, g)
				return err
			}
		})
	})
	b.Run("baseline-mutexmap", func(b *testing.B) {
		b.ReportAllocs()
		cancelInParallel(b, func(guids []string) func(string) error {
			m := newMutexMap()
			copy(guids, runningTasks(b, tasklife.New(memstore.New()), len(guids)))
			for _, g := range guids {
				m.put(g)
			}
			return func(g string) error {
				if _, ok := m.cancel(g); !ok {
					return fmt.Errorf("baseline cancel of %s failed", g)
				}
				return nil
			}
		})
	})
}

// cancelInParallel runs b.N cancels from GOMAXPROCS goroutines, from
// stores of cancelStoreSize tasks that prepare fills (with guids) and
// returns the cancel of, the timer stopped while it does.
func cancelInParallel(b *testing.B, prepare func(guids []string) func(string) error) {
	procs := runtime.GOMAXPROCS(0)
	for done := 0; done < b.N; {
		b.StopTimer()
		guids := make([]string, cancelStoreSize)
		cancel := prepare(guids)
		guids = shuffled(guids)[:min(cancelStoreSize, b.N-done)]
		runtime.GC()
		b.StartTimer()
		var wg sync.WaitGroup
		for p := range procs {
			share := guids[p*len(guids)/procs : (p+1)*len(guids)/procs]
			wg.Go(func() {
				for _, g := range share {
					if err := cancel(g); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		done += len(guids)
	}
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
// The copy is on the heap, as any tasklife.Store's must be: Transition
// hands the caller a *Task of its own. (Returned by value, it would stay on
// the benchmark's stack: a cost no store can avoid would be the baseline's
// to skip, and the ratio would charge memstore for the contract.)
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
	guid = strings.Clone(guid)
	s := m.shard(guid)
	s.mu.Lock()
	s.m[guid] = &baselineTask{GUID: guid, State: tasklife.StateRunning, Version: 2}
	s.mu.Unlock()
}

var cancelFrom = []tasklife.State{tasklife.StatePending, tasklife.StateRunning}

func (m *mutexMap) cancel(guid string) (*baselineTask, bool) {
	s := m.shard(guid)
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[guid]
	if !ok || !slices.Contains(cancelFrom, t.State) {
		return nil, false
	}
	t.State = tasklife.StateCanceling
	t.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	t.Version++
	out := *t
	return &out, true
}
