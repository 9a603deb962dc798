package runner

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
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

	// Accept, when set, says which tasks this runner claims: a host's
	// affinity. The runner then lists PENDING tasks, asks Accept about
	// each, and claims those it accepts by guid (two store calls); without
	// it, a claim takes the oldest PENDING tasks in one. A CANCELING task
	// that no runner claimed is ended by a runner that accepts it. Accept
	// is called without the runner's locks held, but must not block.
	Accept func(t *tasklife.Task) bool

	// Owner names this runner in the store: every task it claims has it
	// as its Owner. It must be unique among the runners that share a
	// store, and never used again by a later runner (one that took over a
	// name would renew its predecessor's leases). Default: the host's
	// name, the process id and random characters.
	Owner string

	// Lease is how long a claimed task stays this runner's without a
	// renewal. The runner renews every lease it holds each Lease/3, in one
	// store call. A runner that dies, or hangs, for longer than Lease
	// loses its tasks: any runner sharing the store ends them FAILED
	// "Unable to determine completion status", and the runner that lost a
	// task stops its work when it hears of it. Default: 30s.
	Lease time.Duration

	// CancelDeadline bounds how long a task may stay CANCELING. One still
	// CANCELING then (its work ignores the cancel and HardStop cannot stop
	// it, or its runner hangs) is ended FAILED "task was cancelled" by
	// whichever runner sees it first, and its runner hard-stops its work
	// at once. Default: Grace plus Lease. Negative: no deadline.
	CancelDeadline time.Duration

	// PendingExpiry, when positive, bounds how long a task may stay
	// PENDING: it is then ended FAILED "Task expired in PENDING state".
	// Default: no expiry.
	PendingExpiry time.Duration

	// MaxRunTime, when positive, bounds how long a task's work may run:
	// its context is then cancelled (context.Cause is ErrTimedOut) and
	// the task is recorded FAILED with tasklife.ReasonTimedOut, after the
	// grace period and HardStop if the work does not return. Default: no
	// limit.
	MaxRunTime time.Duration

	// Timeout, when set, gives a task's own maximum run time: positive
	// sets it, zero takes MaxRunTime, negative means no limit. It is
	// called without the runner's locks held, and must not block.
	Timeout func(t *tasklife.Task) time.Duration

	// PollInterval is how often the runner looks in the store for PENDING
	// tasks it has not heard of (created by another process, or before
	// Run), checks on the tasks it runs (a cancel it did not hear of), and
	// ends the tasks whose lease or deadline has run out, whoever's they
	// are. Every 30 polls, and when Run starts, it also ends the
	// CANCELING tasks it accepts that no runner claimed. Default: 1s.
	PollInterval time.Duration

	// CancelPendingOnStop makes Run cancel the PENDING tasks it accepts
	// when it stops, so that none waits for a runner that will not come
	// back (right for a lone runner on memstore). By default they stay
	// PENDING for the next Run, or another runner sharing the store (right
	// for a durable store, and whenever other runners could run them).
	CancelPendingOnStop bool

	// StopTimeout bounds how long Run, once its context is done and the
	// work has stopped, keeps trying to record outcomes the store will not
	// take. What is still unrecorded then is returned in an
	// *UnrecordedError. Run returns within Grace + StopTimeout of its
	// context being done (plus a second when HardStop must act). Default:
	// 10s.
	StopTimeout time.Duration

	// StoreTimeout bounds each store call the runner makes (calls that
	// start close together share a bound, so one may get up to a quarter
	// more); a call that takes longer is tried again. Default: 10s.
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
	bounds  *storeBounds       // of each store call, under giveUp
	quit    context.CancelFunc // ends giveUp

	// handoff takes a run to an idle worker; idleWorkers counts those
	// waiting for one (see worker).
	handoff     chan *run
	idleWorkers atomic.Int32

	mu         sync.Mutex
	running    bool                      // Run has been called and has not returned
	stopped    bool                      // Run's context is done
	finished   bool                      // Run has returned
	runs       map[string]*run           // claimed, until the work returned
	more       bool                      // the store may hold PENDING tasks to claim
	claiming   int                       // claims under way
	claimFails int                       // claims failed in a row
	claimRetry *time.Timer               // set while a failed claim waits to be tried again
	early      map[string]tasklife.State // changes heard during a claim, of tasks it may return
	unrecorded map[string]Outcome        // being recorded, by guid
	active     int                       // goroutines Run waits for
	idle       chan struct{}             // when set, closed as active drops to zero
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
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.CancelDeadline == 0 {
		cfg.CancelDeadline = cfg.Grace + cfg.Lease
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
		handoff:    make(chan *run),
		stopCtx:    stopCtx,
		stopNow:    stopNow,
		giveUp:     giveUp,
		quit:       quit,
		bounds:     &storeBounds{parent: giveUp, timeout: cfg.StoreTimeout},
		runs:       make(map[string]*run),
		early:      make(map[string]tasklife.State),
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
	r.running, r.more = true, true
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
	// The leases are renewed until Run returns: also while a stop waits
	// for work and records outcomes.
	beat := make(chan struct{})
	var beating sync.WaitGroup
	beating.Go(func() { r.heartbeat(beat) })
	defer beating.Wait()
	defer close(beat)
	if ctx.Err() != nil {
		return r.stop()
	}
	r.expire()
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
			r.more = true
			r.mu.Unlock()
			r.reconcile()
			r.expire()
			if polls++; polls%sweepEvery == 0 {
				r.sweep()
			}
		}
	}
}

// Owner returns the name under which the runner claims tasks (see
// Config.Owner).
func (r *Runner) Owner() string { return r.cfg.Owner }

// accepts reports whether the runner may claim t, or end it without work.
func (r *Runner) accepts(t *tasklife.Task) bool {
	return r.cfg.Accept == nil || r.cfg.Accept(t)
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

// storeCtx bounds one store call: by StoreTimeout (up to a quarter more,
// see storeBounds), and by the end of a stop's retries.
func (r *Runner) storeCtx() context.Context {
	return r.bounds.get()
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
