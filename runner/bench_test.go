package runner_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
	"github.com/tasklife/tasklife/runner"
)

// BenchmarkCancelToStop measures how long the work of a RUNNING task goes on
// after its cancel: from the moment Service.Cancel returns to the moment
// the work's <-ctx.Done() fires (the work reads the clock then). Each
// iteration creates a task, waits for its work to start, cancels it, waits
// for the work to stop and for the task to end FAILED, one task at a time.
//
//   - memstore: the cancel goes through the runner's own Service, whose
//     observer cancels the context inside the Cancel call; what is left
//     after the return is the wake-up of the work's goroutine. A work that
//     woke before Cancel returned counts 0: nothing was left to wait for.
//   - pgstore-cross-instance: two instances (pools, Stores, Services) on
//     one database; the task's work runs on instance A's runner and the
//     cancel is made through instance B's Service, so A hears of it through
//     its Store.Listen and Runner.Notify: a NOTIFY's trip through the
//     server and A's listener connection.
//
// Metrics: p50-µs and p99-µs are percentiles of those times over all
// b.N iterations (nearest rank). ns/op is replaced by the mean time from
// calling Cancel to the work's ctx.Done(), the whole wait of a caller that
// wants the work stopped, Cancel's own round trip included; the built-in
// ns/op would time the whole iteration, mostly the create and start around
// the cancel, which is not what this benchmark is about.
func BenchmarkCancelToStop(b *testing.B) {
	b.Run("memstore", func(b *testing.B) {
		svc := tasklife.New(memstore.New())
		s := startStopper(b, svc, nil)
		s.measure(b, svc)
	})
	b.Run("pgstore-cross-instance", func(b *testing.B) {
		storeA := pgtest.Store(b) // skips without a database (fails with CI=true)
		storeB, err := pgstore.New(pgtest.Pool(b), pgstore.WithSchema(storeA.Schema()))
		if err != nil {
			b.Fatal(err)
		}
		s := startStopper(b, tasklife.New(storeA), func(t *tasklife.Task) bool { return t.Labels[instanceLabel] == "a" })
		listen(b, storeA, s.r)
		s.measure(b, tasklife.New(storeB))
	})
}

// stopper is a runner whose work waits for its cancel and says when it
// came.
type stopper struct {
	svc     *tasklife.Service // the runner's
	r       *runner.Runner
	started chan string
	stopped chan stop
	ended   chan *tasklife.Task // each task that ended
}

type stop struct {
	at    time.Time
	cause error
}

// startStopper starts a runner on svc that runs the tasks accept accepts
// (nil: all), and stops it when b ends.
func startStopper(b *testing.B, svc *tasklife.Service, accept func(*tasklife.Task) bool) *stopper {
	b.Helper()
	s := &stopper{svc: svc, started: make(chan string, 1), stopped: make(chan stop, 1), ended: make(chan *tasklife.Task, 1)}
	svc.Observe(func(_ context.Context, c tasklife.Change) {
		if c.To.Terminal() {
			s.ended <- c.Task
		}
	})
	s.r = runner.New(svc, func(ctx context.Context, t *tasklife.Task) error {
		s.started <- t.GUID
		<-ctx.Done()
		s.stopped <- stop{at: time.Now(), cause: context.Cause(ctx)}
		return ctx.Err()
	}, runner.Config{Accept: accept, PollInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.r.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return s
}

// measure runs the iterations, cancelling through canceller.
func (s *stopper) measure(b *testing.B, canceller *tasklife.Service) {
	ctx := context.Background()
	nt := tasklife.NewTask{AppGUID: "bench", Command: "wait", Labels: map[string]string{instanceLabel: "a"}}
	var after []time.Duration // from Cancel's return to the work's stop
	var whole time.Duration   // the sum of the times from Cancel's call
	for b.Loop() {
		task, err := s.svc.Create(ctx, nt)
		if err != nil {
			b.Fatal(err)
		}
		if guid := await(b, s.started, "the work to start"); guid != task.GUID {
			b.Fatalf("the work of %s started, want %s", guid, task.GUID)
		}
		called := time.Now()
		if _, err := canceller.Cancel(ctx, task.GUID); err != nil {
			b.Fatal(err)
		}
		returned := time.Now()
		st := await(b, s.stopped, "the work to stop")
		if !errors.Is(st.cause, runner.ErrCanceled) {
			b.Fatalf("the work's context was cancelled by %v, want ErrCanceled", st.cause)
		}
		after = append(after, max(0, st.at.Sub(returned)))
		whole += st.at.Sub(called)
		if end := await(b, s.ended, "the task to end"); end.GUID != task.GUID || end.FailureReason != tasklife.ReasonCanceled {
			b.Fatalf("task %s ended %s %q, want %s FAILED %q", end.GUID, end.State, end.FailureReason, task.GUID, tasklife.ReasonCanceled)
		}
	}
	slices.Sort(after)
	b.ReportMetric(percentile(after, 0.50).Seconds()*1e6, "p50-µs")
	b.ReportMetric(percentile(after, 0.99).Seconds()*1e6, "p99-µs")
	b.ReportMetric(float64(whole.Nanoseconds())/float64(len(after)), "ns/op")
}

// percentile returns the nearest-rank q-th percentile of sorted samples.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// await receives from c, failing b if nothing comes within waitFor.
func await[T any](b *testing.B, c <-chan T, what string) T {
	b.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitFor):
		b.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// throughputChunk is how many tasks BenchmarkRunnerThroughput puts through
// one fresh store: it keeps the store's size (which List, and so the
// runner's poll, walks) the same however large b.N grows.
const throughputChunk = 4096

// throughputWindow is how many tasks the runner side keeps in flight: under
// the runner's queue limit (64 or more), so that every task reaches the
// runner through the Service's observer, as a steady host's would, not
// through a list of the store.
const throughputWindow = 32

// BenchmarkRunnerThroughput measures the cost of one task with empty work
// (it returns nil) from create to SUCCEEDED, on memstore:
//
//   - direct: the host makes the three Service calls itself, Create, Start
//     and Succeed, in a loop: the floor for what any runner must do.
//   - runner: the host calls Create, with up to throughputWindow tasks in
//     flight, and the runner (default MaxRunning: one slot per CPU) starts
//     each, runs its work and records SUCCEEDED; an observer counts the
//     successes into a buffered channel. When the window is full the host
//     waits until half of it has succeeded, so that the host is not woken
//     once per task: that would time the benchmark's handoffs, not the
//     runner. ns/op is the time per task, so the ratio runner/direct is
//     what the runner's queueing, goroutines and bookkeeping add to the
//     same three calls (the runner may also spread them over the CPUs).
//
// Each chunk of throughputChunk tasks gets a fresh store (and, on the
// runner side, a fresh runner), set up and torn down with the timer
// stopped. The runner logs to slog.DiscardHandler: a host's log handler's
// cost is its own.
func BenchmarkRunnerThroughput(b *testing.B) {
	ctx := context.Background()
	nt := tasklife.NewTask{AppGUID: "bench", Command: "true"}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for done := 0; done < b.N; {
			b.StopTimer()
			svc := tasklife.New(memstore.New())
			n := min(throughputChunk, b.N-done)
			b.StartTimer()
			for range n {
				task, err := svc.Create(ctx, nt)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := svc.Start(ctx, task.GUID); err != nil {
					b.Fatal(err)
				}
				if _, err := svc.Succeed(ctx, task.GUID); err != nil {
					b.Fatal(err)
				}
			}
			done += n
		}
	})
	b.Run("runner", func(b *testing.B) {
		b.ReportAllocs()
		for done := 0; done < b.N; {
			b.StopTimer()
			n := min(throughputChunk, b.N-done)
			svc := tasklife.New(memstore.New())
			succeeded := make(chan struct{}, throughputWindow)
			var failed atomic.Int64
			svc.Observe(func(_ context.Context, c tasklife.Change) {
				switch {
				case c.To == tasklife.StateSucceeded:
					succeeded <- struct{}{}
				case c.To.Terminal():
					failed.Add(1)
				}
			})
			r := runner.New(svc, func(context.Context, *tasklife.Task) error { return nil },
				runner.Config{Logger: slog.New(slog.DiscardHandler)})
			runCtx, stop := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- r.Run(runCtx) }()
			b.StartTimer()

			// One timer for the chunk: a timer per task would be the
			// benchmark's cost, not the runner's.
			deadline := time.NewTimer(waitFor)
			succeed := func() {
				select {
				case <-succeeded:
				case <-deadline.C:
					b.Fatal("timed out waiting for a task to succeed")
				}
			}
			inFlight := 0
			for range n {
				// A full window drains to half before the host creates
				// more, so that it blocks (and is woken) once per half
				// window, not once per task.
				for inFlight == throughputWindow || (inFlight > throughputWindow/2 && len(succeeded) > 0) {
					succeed()
					inFlight--
				}
				if _, err := svc.Create(ctx, nt); err != nil {
					b.Fatal(err)
				}
				inFlight++
			}
			for ; inFlight > 0; inFlight-- {
				succeed()
			}
			deadline.Stop()

			b.StopTimer()
			stop()
			if err := <-ran; err != nil {
				b.Fatal(err)
			}
			if f := failed.Load(); f > 0 {
				b.Fatalf("%d tasks did not succeed", f)
			}
			b.StartTimer()
			done += n
		}
	})
}
