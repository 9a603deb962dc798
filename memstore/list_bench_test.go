package memstore_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// largeEnv, set to 1, runs the sizes that take more than a few seconds to
// prepare (a million tasks); CI's one-iteration run skips them.
const largeEnv = "TASKLIFE_BENCH_LARGE"

func benchSizes() []int {
	if os.Getenv(largeEnv) == "1" {
		return []int{1e4, 1e5, 1e6}
	}
	return []int{1e4, 1e5}
}

// fill creates n tasks over 1,000 apps, 10% of them CANCELING.
func fill(b *testing.B, svc *tasklife.Service, n int) {
	ctx := context.Background()
	for i := range n {
		t, err := svc.Create(ctx, tasklife.NewTask{AppGUID: fmt.Sprintf("app-%d", i%1000), Command: "true"})
		if err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := svc.Cancel(ctx, t.GUID); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkList times the Service's List on memstore: the first page of
// every task, the first page of one app's (one app in 1,000), and
// state=CANCELING one per page, as issue 14 measured them.
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	queries := []struct {
		name string
		q    tasklife.ListQuery
	}{
		{"first-page", tasklife.ListQuery{}},
		{"one-app", tasklife.ListQuery{AppGUIDs: []string{"app-7"}}},
		{"state", tasklife.ListQuery{States: []tasklife.State{tasklife.StateCanceling}, PerPage: 1}},
	}
	for _, n := range benchSizes() {
		svc := tasklife.New(memstore.New())
		fill(b, svc, n)
		// The first list builds the indexes (see memstore's index.go): a
		// cost paid once for the writes before it, not by every list.
		if _, err := svc.List(ctx, tasklife.ListQuery{}); err != nil {
			b.Fatal(err)
		}
		for _, q := range queries {
			b.Run(fmt.Sprintf("memstore/%s/1e%d", q.name, len(fmt.Sprint(n))-1), func(b *testing.B) {
				for b.Loop() {
					if _, err := svc.List(ctx, q.q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCancelDuringLists reports a cancel's p99 latency while 4
// goroutines list continuously (first pages of all tasks, one app's and
// one state's, in turn) over its p99 with no lists, in one run.
func BenchmarkCancelDuringLists(b *testing.B) {
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	fill(b, svc, 100_000)
	if _, err := svc.List(ctx, tasklife.ListQuery{}); err != nil {
		b.Fatal(err)
	}
	p99 := func(listers int) time.Duration {
		var stop atomic.Bool
		var wg sync.WaitGroup
		for i := range listers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				qs := []tasklife.ListQuery{{}, {AppGUIDs: []string{"app-3"}}, {States: []tasklife.State{tasklife.StatePending}, Descending: true}}
				for j := i; !stop.Load(); j++ {
					if _, err := svc.List(ctx, qs[j%len(qs)]); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		lat := make([]time.Duration, 0, 20_000)
		for range cap(lat) {
			t, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "true"})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := svc.Cancel(ctx, t.GUID); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		stop.Store(true)
		wg.Wait()
		slices.Sort(lat)
		return lat[len(lat)*99/100]
	}
	for b.Loop() {
		quiet := p99(0)
		busy := p99(4)
		b.ReportMetric(float64(quiet.Nanoseconds())/1e3, "quiet-p99-µs")
		b.ReportMetric(float64(busy.Nanoseconds())/1e3, "lists-p99-µs")
		b.ReportMetric(float64(busy)/float64(quiet), "p99-ratio")
	}
}

// BenchmarkMemoryChurn creates and finishes tasks with a retention that
// keeps the last keep of them, and reports the heap at the end over the
// heap of keep tasks that never churned: 2,000,000 and 100,000 with
// TASKLIFE_BENCH_LARGE=1, a tenth of each otherwise.
func BenchmarkMemoryChurn(b *testing.B) {
	total, keep := 200_000, 10_000
	if os.Getenv(largeEnv) == "1" {
		total, keep = 2_000_000, 100_000
	}
	ctx := context.Background()
	heap := func(f func() *memstore.Store) uint64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		store := f()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(store)
		return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
	}
	run := func(n int, retain bool) *memstore.Store {
		store := memstore.New()
		svc := tasklife.New(store)
		var ended []time.Time
		for i := range n {
			t, err := svc.Create(ctx, tasklife.NewTask{AppGUID: fmt.Sprintf("app-%d", i%1000), Command: "true"})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Start(ctx, t.GUID); err != nil {
				b.Fatal(err)
			}
			done, err := svc.Succeed(ctx, t.GUID)
			if err != nil {
				b.Fatal(err)
			}
			ended = append(ended, done.UpdatedAt)
			// What a periodic retention does: every keep/10 tasks, delete
			// those that ended before the last keep.
			if retain && i >= keep && i%(keep/10) == 0 {
				if _, err := svc.DeleteEnded(ctx, ended[i-keep+1]); err != nil {
					b.Fatal(err)
				}
			}
		}
		// A service lists its tasks: the list indexes are built in both.
		if _, err := svc.List(ctx, tasklife.ListQuery{}); err != nil {
			b.Fatal(err)
		}
		return store
	}
	for b.Loop() {
		var churned, steady uint64
		steady = heap(func() *memstore.Store { return run(keep, false) })
		churned = heap(func() *memstore.Store { return run(total, true) })
		b.ReportMetric(float64(steady)/float64(keep), "steady-B/task")
		b.ReportMetric(float64(churned)/float64(steady), "churn-heap-ratio")
	}
}
