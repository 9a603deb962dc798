package runner_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/runner"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor is how long a test waits for a condition before it fails. It is
// long because CI machines are shared and slow at times; a passing test
// never waits that long.
const waitFor = 20 * time.Second

// outage is a Store that answers ErrUnavailable while down, without
// reaching the store behind it: a database that is not there.
type outage struct {
	tasklife.Store
	down atomic.Bool
	// downAfterCreate takes the store down as the next create commits,
	// before anyone hears of it.
	downAfterCreate atomic.Bool
}

var errDown = errors.New("connection refused")

func (o *outage) check() error {
	if o.down.Load() {
		return errors.Join(tasklife.ErrUnavailable, errDown)
	}
	return nil
}

func (o *outage) Create(ctx context.Context, t *tasklife.Task, audit *tasklife.AuditEvent) (*tasklife.Task, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	created, err := o.Store.Create(ctx, t, audit)
	if err == nil && o.downAfterCreate.CompareAndSwap(true, false) {
		o.down.Store(true)
	}
	return created, err
}

func (o *outage) Get(ctx context.Context, guid string) (*tasklife.Task, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return o.Store.Get(ctx, guid)
}

func (o *outage) List(ctx context.Context, q tasklife.ListQuery) (*tasklife.Page, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return o.Store.List(ctx, q)
}

func (o *outage) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	if err := o.check(); err != nil {
		return tasklife.TransitionResult{}, err
	}
	return o.Store.Transition(ctx, req)
}

func (o *outage) Claim(ctx context.Context, req tasklife.ClaimRequest) ([]*tasklife.Task, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return o.Store.Claim(ctx, req)
}

func (o *outage) Renew(ctx context.Context, owner string, lease time.Duration) ([]string, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return o.Store.Renew(ctx, owner, lease)
}

func (o *outage) Expire(ctx context.Context, req tasklife.ExpireRequest) ([]tasklife.Change, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return o.Store.Expire(ctx, req)
}

// bundle is one runner over a memstore that can be taken down.
type bundle struct {
	store *outage
	svc   *tasklife.Service
	r     *runner.Runner
	stop  context.CancelFunc
	done  chan error // Run's result
}

// setup starts a runner of work; the test's cleanup stops it and checks
// that Run returned.
func setup(t *testing.T, work runner.Work, cfg runner.Config) *bundle {
	t.Helper()
	b := &bundle{store: &outage{Store: memstore.New()}, done: make(chan error, 1)}
	b.svc = tasklife.New(b.store)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b.r = runner.New(b.svc, work, cfg)
	ctx, stop := context.WithCancel(context.Background())
	b.stop = stop
	go func() { b.done <- b.r.Run(ctx) }()
	t.Cleanup(func() { b.shutdown(t) })
	return b
}

// shutdown stops Run and returns its result; later calls return it again.
func (b *bundle) shutdown(t *testing.T) error {
	t.Helper()
	b.stop()
	select {
	case err := <-b.done:
		b.done <- err
		return err
	case <-time.After(waitFor):
		t.Fatal("Run did not return after its context was done")
		return nil
	}
}

func (b *bundle) create(t *testing.T, name string) *tasklife.Task {
	t.Helper()
	task, err := b.svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Name: name, Command: "work"})
	require.NoError(t, err)
	return task
}

// waitState waits until the task is in state and returns it.
func (b *bundle) waitState(t *testing.T, guid string, state tasklife.State) *tasklife.Task {
	t.Helper()
	var task *tasklife.Task
	require.Eventually(t, func() bool {
		var err error
		task, err = b.store.Store.Get(context.Background(), guid)
		return err == nil && task.State == state
	}, waitFor, time.Millisecond, "task %s never reached %s (last: %+v)", guid, state, task)
	return task
}

// waitCanceled waits until the task has ended FAILED "task was cancelled".
func (b *bundle) waitCanceled(t *testing.T, guid string) {
	t.Helper()
	got := b.waitState(t, guid, tasklife.StateFailed)
	require.Equal(t, tasklife.ReasonCanceled, got.FailureReason)
}

// gate is a Work whose runs block until released, and that says when each
// started and what its context said.
type gate struct {
	started chan string   // the guid of each task whose work began
	release chan struct{} // closed: every work returns (nil)
	mu      sync.Mutex
	causes  map[string]error
	seen    map[string]bool // read from started by awaitStart
	ignore  bool            // the work ignores its context
	linger  bool            // after its cancel, the work winds down until release
}

func newGate() *gate {
	return &gate{started: make(chan string, 10000), release: make(chan struct{}), causes: map[string]error{}, seen: map[string]bool{}}
}

func (g *gate) work(ctx context.Context, t *tasklife.Task) error {
	g.started <- t.GUID
	if g.ignore {
		<-g.release
		return nil
	}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		g.causes[t.GUID] = context.Cause(ctx)
		g.mu.Unlock()
		if g.linger {
			<-g.release
		}
		return ctx.Err()
	}
}

func (g *gate) cause(guid string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.causes[guid]
}

// awaitStart waits until the work of guid has begun.
func (g *gate) awaitStart(t *testing.T, guid string) {
	t.Helper()
	for !g.seen[guid] {
		select {
		case got := <-g.started:
			g.seen[got] = true
		case <-time.After(waitFor):
			t.Fatalf("the work of %s never started", guid)
		}
	}
}

// warmUp waits until Run is running: a task created now gets done.
func (b *bundle) warmUp(t *testing.T) {
	t.Helper()
	task, err := b.svc.Create(context.Background(), tasklife.NewTask{AppGUID: "warm-up", Name: "warm-up", Command: "x"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := b.store.Store.Get(context.Background(), task.GUID)
		return err == nil && got.State.Terminal()
	}, waitFor, time.Millisecond, "Run never ran a task")
}

// hooked is a Store whose List, Transition and Claim a test can intercept,
// to pin an interleaving.
type hooked struct {
	tasklife.Store
	mu          sync.Mutex
	afterList   func(q tasklife.ListQuery, p *tasklife.Page)
	beforeTrans func(ctx context.Context, req tasklife.TransitionRequest) error
	afterClaim  func(claimed []*tasklife.Task) error
}

func (h *hooked) Claim(ctx context.Context, req tasklife.ClaimRequest) ([]*tasklife.Task, error) {
	claimed, err := h.Store.Claim(ctx, req)
	h.mu.Lock()
	f := h.afterClaim
	h.mu.Unlock()
	if err == nil && f != nil && len(claimed) > 0 {
		if err := f(claimed); err != nil {
			return nil, err
		}
	}
	return claimed, err
}

func (h *hooked) onClaim(f func([]*tasklife.Task) error) {
	h.mu.Lock()
	h.afterClaim = f
	h.mu.Unlock()
}

func (h *hooked) List(ctx context.Context, q tasklife.ListQuery) (*tasklife.Page, error) {
	p, err := h.Store.List(ctx, q)
	h.mu.Lock()
	f := h.afterList
	h.mu.Unlock()
	if err == nil && f != nil {
		f(q, p)
	}
	return p, err
}

func (h *hooked) onList(f func(tasklife.ListQuery, *tasklife.Page)) {
	h.mu.Lock()
	h.afterList = f
	h.mu.Unlock()
}

func (h *hooked) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	h.mu.Lock()
	f := h.beforeTrans
	h.mu.Unlock()
	if f != nil {
		if err := f(ctx, req); err != nil {
			return tasklife.TransitionResult{}, err
		}
	}
	return h.Store.Transition(ctx, req)
}

func (h *hooked) onTransition(f func(context.Context, tasklife.TransitionRequest) error) {
	h.mu.Lock()
	h.beforeTrans = f
	h.mu.Unlock()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs r until the test ends; the returned stop ends it early and
// returns Run's result.
func start(t *testing.T, r *runner.Runner) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(waitFor):
				t.Error("Run did not return after its context was done")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// stateOf reads a task straight from a store.
func stateOf(t *testing.T, s tasklife.Store, guid string) tasklife.State {
	t.Helper()
	got, err := s.Get(context.Background(), guid)
	require.NoError(t, err)
	return got.State
}
