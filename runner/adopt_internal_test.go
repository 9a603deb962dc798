package runner

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// lostClaims is a store whose first non-empty claim commits but loses its
// answer (the runner then holds a task it runs no work for, and adopts it
// at a renewal), and whose Get a test can intercept after it has read.
type lostClaims struct {
	tasklife.Store
	lost     atomic.Bool
	mu       sync.Mutex
	afterGet func(t *tasklife.Task)
}

func (s *lostClaims) Claim(ctx context.Context, req tasklife.ClaimRequest) ([]*tasklife.Task, error) {
	claimed, err := s.Store.Claim(ctx, req)
	if err == nil && len(claimed) > 0 && s.lost.CompareAndSwap(false, true) {
		return nil, tasklife.ErrUnavailable
	}
	return claimed, err
}

func (s *lostClaims) Get(ctx context.Context, guid string) (*tasklife.Task, error) {
	t, err := s.Store.Get(ctx, guid)
	s.mu.Lock()
	f := s.afterGet
	s.mu.Unlock()
	if err == nil && f != nil {
		f(t.Clone())
	}
	return t, err
}

// adoptSetup runs a runner whose heartbeat never ticks (the test renews by
// hand) over a lostClaims store, and creates a task whose claim's answer
// is lost: it is RUNNING, the runner's, with no work.
func adoptSetup(t *testing.T, work Work) (*Runner, *lostClaims, *tasklife.Task, func()) {
	t.Helper()
	mem := memstore.New()
	s := &lostClaims{Store: mem}
	svc := tasklife.New(s)
	r := New(svc, work, Config{Lease: time.Hour, PollInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	// Claimed, and the claim that lost its answer tried again (and found
	// nothing): no claim is under way, so a renewal adopts the task.
	require.Eventually(t, func() bool {
		got, err := mem.Get(context.Background(), task.GUID)
		r.mu.Lock()
		defer r.mu.Unlock()
		return err == nil && got.State == tasklife.StateRunning && got.Owner == r.Owner() &&
			r.claiming == 0 && r.claimRetry == nil && r.claimFails == 0
	}, 20*time.Second, time.Millisecond)
	return r, s, task, stop
}

// waitActive waits until the runner counts n goroutines of its own.
func waitActive(t *testing.T, r *Runner, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.active == n
	}, 20*time.Second, time.Millisecond)
}

// A task ended elsewhere while an adoption read it, a change the runner
// heard of, never has its work started from that stale read.
func TestAnAdoptionDoesNotStartATaskEndedWhileItRead(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	r, s, task, stop := adoptSetup(t, func(context.Context, *tasklife.Task) error {
		runs.Add(1)
		return nil
	})
	hooked := make(chan struct{})
	var once sync.Once
	s.mu.Lock()
	s.afterGet = func(got *tasklife.Task) {
		if got.GUID != task.GUID {
			return
		}
		once.Do(func() {
			// Another process ends it (a host's Fail, its cancel
			// deadline), and its listener tells this runner.
			if _, err := tasklife.New(s.Store).Fail(context.Background(), task.GUID, "ended elsewhere"); err != nil {
				t.Error(err)
			}
			r.Notify(task.GUID, tasklife.StateFailed)
			close(hooked)
		})
	}
	s.mu.Unlock()
	r.mu.Lock()
	base := r.active
	r.mu.Unlock()
	require.NoError(t, r.renew())
	<-hooked
	waitActive(t, r, base) // the adoption, and any work it started, are over
	stop()
	require.Zero(t, runs.Load(), "the work of an ended task was started")
	got, err := s.Store.Get(context.Background(), task.GUID)
	require.NoError(t, err)
	require.Equal(t, "ended elsewhere", got.FailureReason)
}

// Two renewals while one adoption reads the task: the work runs once, not
// again from the first adoption's stale read once the second's run is over.
func TestTwoRenewalsDoNotAdoptATaskTwice(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	r, s, task, stop := adoptSetup(t, func(context.Context, *tasklife.Task) error {
		runs.Add(1)
		return nil
	})
	var gets atomic.Int32
	reading, release := make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.afterGet = func(got *tasklife.Task) {
		if got.GUID == task.GUID && gets.Add(1) == 1 {
			close(reading)
			<-release // the first adoption's read, RUNNING, goes stale
		}
	}
	s.mu.Unlock()
	require.NoError(t, r.renew())
	<-reading
	r.mu.Lock()
	base := r.active
	r.mu.Unlock()
	require.NoError(t, r.renew())
	// Either the second renewal adopted too, and that adoption's run is
	// over (the task ended, the runner forgot it); or it adopted nothing.
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		_, recording := r.unrecorded[task.GUID]
		if gets.Load() == 1 {
			return r.active == base
		}
		got, err := s.Store.Get(context.Background(), task.GUID)
		return err == nil && got.State.Terminal() && r.runs[task.GUID] == nil && !recording
	}, 20*time.Second, time.Millisecond)
	close(release)
	waitActive(t, r, base-1) // the first adoption, and any work it started, are over
	got := func() tasklife.State {
		st, err := s.Store.Get(context.Background(), task.GUID)
		require.NoError(t, err)
		return st.State
	}
	require.Eventually(t, func() bool { return got() == tasklife.StateSucceeded }, 20*time.Second, time.Millisecond)
	stop()
	require.EqualValues(t, 1, runs.Load(), "the work ran more than once")
}

// logged keeps the messages of the records a logger handles.
type logged struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logged) Enabled(context.Context, slog.Level) bool { return true }
func (l *logged) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logged) WithGroup(string) slog.Handler            { return l }
func (l *logged) Handle(_ context.Context, rec slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, rec.Message)
	return nil
}

// Work that outlived its grace has its task recorded canceled by the
// runner itself: a renewal that no longer finds the lease does not take
// that for a loss (and so warn, and stop the work again, every Lease/3
// for as long as the work goes on).
func TestARenewalDoesNotTakeOverdueWorkForLost(t *testing.T) {
	t.Parallel()
	mem := memstore.New()
	svc := tasklife.New(mem)
	release, started := make(chan struct{}), make(chan struct{})
	defer close(release)
	logs := &logged{}
	r := New(svc, func(context.Context, *tasklife.Task) error {
		close(started)
		<-release // it ignores its cancel
		return nil
	}, Config{Grace: 10 * time.Millisecond, Lease: time.Hour, PollInterval: time.Hour, StopTimeout: 10 * time.Millisecond, Logger: slog.New(logs)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	<-started
	_, err = svc.Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := mem.Get(context.Background(), task.GUID)
		r.mu.Lock()
		defer r.mu.Unlock()
		run := r.runs[task.GUID]
		return err == nil && got.State == tasklife.StateFailed && run != nil && run.overdue
	}, 20*time.Second, time.Millisecond)
	require.NoError(t, r.renew())
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, m := range logs.msgs {
		require.NotContains(t, m, "taken from this runner")
	}
}
