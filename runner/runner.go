package runner

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
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

	// HardStop, when set, is called (in a goroutine of its own) for a task
	// whose work outlived its grace period: the host's last resort, such as
	// SIGKILL for a process. A Go function cannot be killed: without a
	// HardStop that makes it return, the work goes on, and keeps its slot,
	// until it returns by itself.
	HardStop func(t *tasklife.Task)

	// Accept says which tasks this runner runs; nil accepts all. Runners
	// that share a store must split the tasks between them with Accept
	// (taskd accepts the tasks created through its own instance): a
	// PENDING task is started by the runner that accepts it, and a
	// CANCELING one that no work holds is ended by it.
	Accept func(t *tasklife.Task) bool

	// PollInterval is how often the runner looks in the store for PENDING
	// tasks it has not heard of (created by another process, or before Run)
	// and checks on the tasks it runs (a cancel it did not hear of).
	// Default: 1s.
	PollInterval time.Duration

	// CancelPendingOnStop makes Run cancel the PENDING tasks it accepts
	// when it stops, so that none waits for a runner that will not come
	// back (right for memstore). By default they stay PENDING for the next
	// Run (right for a durable store).
	CancelPendingOnStop bool

	// StopTimeout bounds how long Run, once its context is done and the
	// work has stopped, keeps trying to record outcomes the store will not
	// take. What is still unrecorded then is returned in an
	// *UnrecordedError. Default: 10s.
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

// Runner runs tasks' work: it takes PENDING tasks in creation order, starts
// them, runs their work with a context that a cancel cancels, and records
// every outcome, retrying until the store takes it. Create one with New and
// start it with Run.
type Runner struct {
	svc  *tasklife.Service
	work Work
	cfg  Config
	log  *slog.Logger

	wake     chan struct{} // a token: look at the queue again
	stopping chan struct{} // closed when Run's context is done
	giveUp   chan struct{} // closed when a stopping Run stops retrying

	mu         sync.Mutex
	running    bool               // Run has been called and has not returned
	stopped    bool               // Run's context is done
	finished   bool               // Run has returned
	runs       map[string]*run    // started or starting, until the work returned
	queue      []*tasklife.Task   // PENDING, heard of, not yet started; oldest first
	queued     map[string]bool    // the guids in queue
	refill     bool               // the store may hold PENDING tasks not in queue
	unrecorded map[string]Outcome // being recorded, by guid
	active     int                // goroutines Run waits for
	idle       chan struct{}      // when set, closed as active drops to zero
}

// queueLimit bounds the tasks held in memory waiting for a slot; beyond it,
// tasks stay in the store and are listed again when there is room.
func (r *Runner) queueLimit() int { return max(4*r.cfg.MaxRunning, 64) }

// New returns a runner of work for the tasks of svc. It registers an
// observer on svc, through which it hears of creates and cancels made in
// this process; see Notify for those made elsewhere.
func New(svc *tasklife.Service, work Work, cfg Config) *Runner {
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
	r := &Runner{
		svc:        svc,
		work:       work,
		cfg:        cfg,
		log:        cfg.Logger,
		wake:       make(chan struct{}, 1),
		stopping:   make(chan struct{}),
		giveUp:     make(chan struct{}),
		runs:       make(map[string]*run),
		queued:     make(map[string]bool),
		unrecorded: make(map[string]Outcome),
	}
	svc.Observe(r.observe)
	return r
}

// Run runs tasks until ctx is done. Then it stops: it takes no new task,
// cancels the running work (context.Cause is ErrShutdown) and records each
// task canceled through the Service, gives the work its grace period,
// cancels the PENDING tasks if CancelPendingOnStop, and returns once every
// outcome is recorded. If the store would not take some within StopTimeout,
// Run returns an *UnrecordedError listing them. Run may be called once.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running || r.finished {
		r.mu.Unlock()
		return errors.New("runner: Run may be called once")
	}
	r.running, r.refill = true, true
	for _, o := range r.cfg.Unrecorded {
		r.recordLocked(o)
	}
	r.mu.Unlock()

	poll := time.NewTicker(r.cfg.PollInterval)
	defer poll.Stop()
	for {
		r.dispatch()
		select {
		case <-ctx.Done():
			return r.stop()
		case <-r.wake:
		case <-poll.C:
			r.mu.Lock()
			r.refill = true
			r.mu.Unlock()
			r.reconcile()
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

// dispatch starts queued tasks while there are free slots, listing PENDING
// tasks from the store when the queue runs dry and it may hold more.
func (r *Runner) dispatch() {
	for {
		r.mu.Lock()
		free := r.cfg.MaxRunning - len(r.runs)
		if r.stopped || free <= 0 {
			r.mu.Unlock()
			return
		}
		if len(r.queue) == 0 {
			refill := r.refill
			r.refill = false
			r.mu.Unlock()
			if !refill || !r.list() {
				return
			}
			continue
		}
		for len(r.queue) > 0 && len(r.runs) < r.cfg.MaxRunning {
			t := r.queue[0]
			r.queue = r.queue[1:]
			delete(r.queued, t.GUID)
			r.startLocked(t)
		}
		r.mu.Unlock()
	}
}

// list queues the oldest PENDING tasks the runner accepts and does not hold,
// and reports whether it queued any.
func (r *Runner) list() bool {
	q := tasklife.ListQuery{States: []tasklife.State{tasklife.StatePending}, PerPage: r.queueLimit()}
	added := false
	for q.Page = 1; ; q.Page++ {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
		page, err := r.svc.List(ctx, q)
		cancel()
		if err != nil {
			r.log.Warn("runner: PENDING tasks could not be listed; trying again at the next poll", "error", err)
			r.mu.Lock()
			r.refill = true
			r.mu.Unlock()
			return added
		}
		r.mu.Lock()
		for _, t := range page.Tasks {
			if r.runs[t.GUID] == nil && !r.queued[t.GUID] && len(r.queue) < r.queueLimit() && r.cfg.Accept(t) {
				r.queue = append(r.queue, t)
				r.queued[t.GUID] = true
				added = true
			}
		}
		full := len(r.queue) >= r.queueLimit()
		if full {
			// More may wait in the store: until a list has found them,
			// new tasks are not queued ahead of them.
			r.refill = true
		}
		r.mu.Unlock()
		if full || len(page.Tasks) < q.PerPage {
			return added
		}
	}
}

// observe is the runner's observer on the Service: it hears of every change
// committed in this process, in the goroutine that committed it, so it only
// hands work on.
func (r *Runner) observe(_ context.Context, c tasklife.Change) {
	if c.Event == tasklife.EventCreate {
		r.created(c.Task)
		return
	}
	r.changed(c.Task.GUID, c.To, c.Task)
}

// created queues a task created in this process, if there is room; if not,
// a later list finds it in its place in creation order.
func (r *Runner) created(t *tasklife.Task) {
	if !r.cfg.Accept(t) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running || r.stopped || r.queued[t.GUID] || r.runs[t.GUID] != nil {
		return
	}
	if r.refill || len(r.queue) >= r.queueLimit() {
		// Older PENDING tasks may be waiting in the store: keep the order.
		r.refill = true
	} else {
		r.queue = append(r.queue, t.Clone())
		r.queued[t.GUID] = true
	}
	r.poke()
}

// Notify tells the runner that the task guid is now in state, for changes
// the Service's observer cannot hear: those committed by another process.
// With pgstore, call it from Store.Listen's Handle:
//
//	store.Listen(ctx, pgstore.ListenOptions{Handle: func(_ context.Context, n pgstore.Notification) {
//		r.Notify(n.GUID, n.To)
//	}})
//
// It is idempotent and never blocks.
func (r *Runner) Notify(guid string, state tasklife.State) {
	r.changed(guid, state, nil)
}

// changed acts on a task's new state: a cancel reaches its work, or ends it
// if it never started; a task ended by someone else stops its work. t is
// the task when known.
func (r *Runner) changed(guid string, state tasklife.State, t *tasklife.Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		return
	}
	if run := r.runs[guid]; run != nil {
		switch {
		case state == tasklife.StateCanceling:
			r.interruptLocked(run, ErrCanceled)
		case state.Terminal():
			r.interruptLocked(run, ErrTaskEnded)
		}
		return
	}
	if _, ok := r.unrecorded[guid]; ok || state != tasklife.StateCanceling {
		return // its outcome is on the way, or there is nothing to do
	}
	// A cancel of a task no work holds: it never started here. If the
	// runner accepts it, it is the runner's to end.
	if i := slices.IndexFunc(r.queue, func(q *tasklife.Task) bool { return q.GUID == guid }); i >= 0 {
		t = r.queue[i]
		r.queue = slices.Delete(r.queue, i, i+1)
		delete(r.queued, guid)
	}
	if t == nil {
		// Heard of elsewhere, and not queued here: look it up, since no
		// list of PENDING tasks will find it any more.
		r.goLocked(func() { r.lookUp(guid) })
		return
	}
	if r.cfg.Accept(t) {
		r.recordLocked(Outcome{GUID: guid, Name: t.Name, Event: tasklife.EventCanceled})
	}
}

// lookUp reads a task whose cancel was heard of through Notify, and ends
// it if it is the runner's and still CANCELING without work.
func (r *Runner) lookUp(guid string) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
	t, err := r.svc.Get(ctx, guid)
	cancel()
	if err != nil {
		if !errors.Is(err, tasklife.ErrNotFound) {
			r.log.Warn("runner: a cancelled task could not be read; the next notification tries again", "task_guid", guid, "error", err)
		}
		return
	}
	if t.State == tasklife.StateCanceling {
		r.changed(guid, t.State, t)
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

// doneLocked counts a goroutine of goLocked's out.
func (r *Runner) doneLocked() {
	r.active--
	if r.active == 0 && r.idle != nil {
		close(r.idle)
		r.idle = nil
	}
}

// pause waits d and reports true, or false once a stopping runner has
// given up retrying.
func (r *Runner) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.giveUp:
		return false
	}
}

// reconcile asks the store about the tasks whose work runs here, in case a
// cancel or an end was committed where the runner could not hear it.
func (r *Runner) reconcile() {
	r.mu.Lock()
	guids := make([]string, 0, len(r.runs))
	for guid, run := range r.runs {
		if run.running {
			guids = append(guids, guid)
		}
	}
	r.mu.Unlock()
	for len(guids) > 0 {
		n := min(len(guids), tasklife.MaxPerPage)
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
		page, err := r.svc.List(ctx, tasklife.ListQuery{GUIDs: guids[:n], PerPage: tasklife.MaxPerPage})
		cancel()
		if err != nil {
			return // the next poll asks again
		}
		for _, t := range page.Tasks {
			if t.State != tasklife.StateRunning {
				r.changed(t.GUID, t.State, t)
			}
		}
		guids = guids[n:]
	}
}
