package runner

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/tasklife/tasklife"
)

// Work is what a task does. It runs after the task is RUNNING, and its
// result is the task's outcome: nil is succeed, an error is fail with the
// error's text as the failure reason (see Failure for a reason of your
// own). ctx is cancelled the moment the task is cancelled, or the runner
// stops; context.Cause(ctx) then says which (ErrCanceled, ErrShutdown,
// ErrTaskEnded). Work that returns after that is recorded canceled,
// whatever it returns, unless it marks its result with Completed.
type Work func(ctx context.Context, t *tasklife.Task) error

// Config configures a Runner. The zero value of every field is usable.
type Config struct {
	// MaxRunning bounds how many tasks' work runs at once, work that
	// outlived its grace period included. Default: runtime.NumCPU().
	MaxRunning int

	// Grace is how long work has to return after its context is
	// cancelled. Work still running then is recorded canceled anyway and
	// HardStop is called. Default: 10s, Diego's time between a task's
	// SIGTERM and its SIGKILL.
	Grace time.Duration

	// HardStop, when set, is called for a task whose work outlived its
	// grace period: the host's last resort, such as SIGKILL for a process.
	// It must return promptly; a panic in it is logged. The work then has
	// a second to return before its task is recorded canceled without it.
	// A Go function cannot be killed: without a HardStop that makes it
	// return, the work goes on, and keeps its slot, until it returns by
	// itself.
	HardStop func(t *tasklife.Task)

	// Accept says which tasks this runner runs; nil accepts all. Runners
	// that share a store must split the tasks between them with Accept
	// (taskd accepts the tasks created through its own instance): a
	// PENDING task is started by the runner that accepts it, and a
	// CANCELING one that no work holds is ended by it. Accept is called
	// without the runner's locks held, but must not block.
	Accept func(t *tasklife.Task) bool

	// PollInterval is how often the runner looks in the store for PENDING
	// tasks it has not heard of (created by another process, or before
	// Run) and checks on the tasks it runs (a cancel it did not hear of).
	// Every 30 polls, and when Run starts, it also ends the CANCELING
	// tasks it accepts that no work holds. Default: 1s.
	PollInterval time.Duration

	// CancelPendingOnStop makes Run cancel the PENDING tasks it accepts
	// when it stops, so that none waits for a runner that will not come
	// back (right for memstore). By default they stay PENDING for the next
	// Run (right for a durable store).
	CancelPendingOnStop bool

	// StopTimeout bounds how long Run, once its context is done and the
	// work has stopped, keeps trying to record outcomes the store will not
	// take. What is still unrecorded then is returned in an
	// *UnrecordedError. Run returns within Grace + StopTimeout of its
	// context being done (plus a second when HardStop must act). Default:
	// 10s.
	StopTimeout time.Duration

	// StoreTimeout bounds each store call the runner makes; a call that
	// takes longer is tried again. Default: 10s.
	StoreTimeout time.Duration

	// Unrecorded are outcomes a previous Run could not record (see
	// UnrecordedError), kept by the host: Run records them first.
	Unrecorded []Outcome

	// Logger receives the runner's logs, each with the task's guid and
	// name. Default: slog.Default().
	Logger *slog.Logger
}

// sweepEvery is how many polls pass between two sweeps of CANCELING tasks:
// a cancel a runner could not hear (made while no Run was running, or
// announced while the store was down) is ended within sweepEvery polls.
const sweepEvery = 30

// Runner runs tasks' work: it takes PENDING tasks in creation order, starts
// them, runs their work with a context that a cancel cancels, and records
// every outcome, retrying until the store takes it. Create one with New and
// start it with Run.
type Runner struct {
	svc  *tasklife.Service
	work Work
	cfg  Config
	log  *slog.Logger

	wake    chan struct{}      // a token: look at the queue again
	stopCtx context.Context    // done when Run's context is done
	stopNow context.CancelFunc // ends stopCtx
	giveUp  context.Context    // done when a stopping Run stops retrying
	quit    context.CancelFunc // ends giveUp

	mu         sync.Mutex
	running    bool               // Run has been called and has not returned
	stopped    bool               // Run's context is done
	finished   bool               // Run has returned
	runs       map[string]*run    // started or starting, until the work returned
	queue      []*tasklife.Task   // PENDING, heard of, not yet started; oldest first
	queued     map[string]bool    // the guids in queue
	refill     bool               // the store may hold PENDING tasks not in queue
	listing    bool               // a list of PENDING tasks is under way
	unrecorded map[string]Outcome // being recorded, by guid
	active     int                // goroutines Run waits for
	idle       chan struct{}      // when set, closed as active drops to zero
}

// New returns a runner of work for the tasks of svc. It registers an
// observer on svc, through which it hears of creates and cancels made in
// this process; see Notify for those made elsewhere. It panics if work is
// nil.
func New(svc *tasklife.Service, work Work, cfg Config) *Runner {
	if work == nil {
		panic("runner: New needs a Work")
	}
	if cfg.MaxRunning <= 0 {
		cfg.MaxRunning = runtime.NumCPU()
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 10 * time.Second
	}
	if cfg.Accept == nil {
		cfg.Accept = func(*tasklife.Task) bool { return true }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	stopCtx, stopNow := context.WithCancel(context.Background())
	giveUp, quit := context.WithCancel(context.Background())
	r := &Runner{
		svc:        svc,
		work:       work,
		cfg:        cfg,
		log:        cfg.Logger,
		wake:       make(chan struct{}, 1),
		stopCtx:    stopCtx,
		stopNow:    stopNow,
		giveUp:     giveUp,
		quit:       quit,
		runs:       make(map[string]*run),
		queued:     make(map[string]bool),
		unrecorded: make(map[string]Outcome),
	}
	svc.Observe(r.observe)
	return r
}

// Run runs tasks until ctx is done. Then it stops: it takes no new task,
// cancels the running work (context.Cause is ErrShutdown) and their tasks
// through the Service, gives the work its grace period, cancels the PENDING
// tasks if CancelPendingOnStop, and returns once every outcome is recorded.
// If the store would not take some within StopTimeout, Run returns an
// *UnrecordedError listing them. Run may be called once.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running || r.finished {
		r.mu.Unlock()
		return errors.New("runner: Run may be called once")
	}
	r.running, r.refill = true, true
	for _, o := range r.cfg.Unrecorded {
		switch o.Event {
		case tasklife.EventSucceed, tasklife.EventFail, tasklife.EventCanceled:
			r.recordLocked(o)
		default:
			r.log.Error("runner: an unrecorded outcome with an event that ends no task is dropped",
				"task_guid", o.GUID, "event", string(o.Event))
		}
	}
	r.mu.Unlock()
	if ctx.Err() != nil {
		return r.stop()
	}
	r.sweep()

	poll := time.NewTicker(r.cfg.PollInterval)
	defer poll.Stop()
	for polls := 1; ; {
		r.dispatch(ctx)
		select {
		case <-ctx.Done():
			return r.stop()
		case <-r.wake:
		case <-poll.C:
			r.mu.Lock()
			r.refill = true
			r.mu.Unlock()
			r.reconcile()
			if polls++; polls%sweepEvery == 0 {
				r.sweep()
			}
		}
	}
}

// poke makes Run look at the queue again; it never blocks.
func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// goLocked runs f in a goroutine that Run waits for before it returns.
func (r *Runner) goLocked(f func()) {
	r.active++
	go func() {
		defer func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.doneLocked()
		}()
		f()
	}()
}

// doneLocked counts a goroutine of goLocked's (or an execute) out.
func (r *Runner) doneLocked() {
	r.active--
	if r.active == 0 && r.idle != nil {
		close(r.idle)
		r.idle = nil
	}
}

// storeCtx bounds one store call: by StoreTimeout, and by the end of a
// stop's retries.
func (r *Runner) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.giveUp, r.cfg.StoreTimeout)
}

// pause waits d and reports true, or false once a stopping runner has
// given up retrying.
func (r *Runner) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.giveUp.Done():
		return false
	}
}
