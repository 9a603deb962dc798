package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tasklife/tasklife"
)

// errShuttingDown refuses new tasks once shutdown has begun.
var errShuttingDown = fmt.Errorf("%w: taskd is shutting down", tasklife.ErrUnavailable)

// reportRetry and maxReportRetry are the first and the last wait before
// retrying an outcome the store could not take: about 3 s in all.
const (
	reportRetry    = 100 * time.Millisecond
	maxReportRetry = 1600 * time.Millisecond
)

// ownerKey is the annotation that names the taskd instance running a task,
// on a store shared by several. Clients may not set it.
const ownerKey = "taskd.tasklife.dev/instance"

// reservedPrefix is the annotation key prefix taskd keeps for itself.
const reservedPrefix = "taskd.tasklife.dev/"

// executor runs each task's command with /bin/sh -c in a process group of
// its own and drives the task through its lifecycle. It learns of cancels
// through the Service's observer hook, as any host's executor would, and,
// on a shared store, through Stop.
type executor struct {
	shell      string // runs the gate script; /bin/sh unless a test breaks it
	svc        *tasklife.Service
	log        *slog.Logger
	grace      time.Duration
	maxRunning int

	// owner, when set, is written into each new task's ownerKey annotation.
	owner string
	// state, when set, records each running task's process group, so that
	// a restart after a crash can kill what is left of it.
	state *stateDir
	// keepPending leaves queued tasks PENDING at shutdown, for the next
	// start of this instance to run, instead of canceling them: on a
	// durable store they were accepted and must not be lost.
	keepPending bool

	// createMu makes create-and-enqueue one step, so the queue is in
	// creation order.
	createMu sync.Mutex

	mu     sync.Mutex
	queue  []*tasklife.Task // PENDING and not yet dispatched, oldest first
	runs   map[string]*run  // dispatched and not yet finished, by guid
	closed bool
	active int           // goroutines started by goLocked and not yet done
	idle   chan struct{} // when set, closed as active drops to zero
}

// run is one dispatched task.
type run struct {
	task   *tasklife.Task
	cancel chan struct{} // closed when the task must stop
	once   sync.Once
	mu     sync.Mutex
	proc   *process // nil until the process has started
}

// stop asks the run to stop; it never blocks, so observers may call it.
func (r *run) stop() { r.once.Do(func() { close(r.cancel) }) }

// kill kills the run's process group, if it has one.
func (r *run) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.signal(syscall.SIGKILL)
	}
}

// newExecutor returns an executor for svc and registers its observer.
func newExecutor(svc *tasklife.Service, log *slog.Logger, grace time.Duration, maxRunning int) *executor {
	e := &executor{
		shell:      "/bin/sh",
		svc:        svc,
		log:        log,
		grace:      grace,
		maxRunning: max(maxRunning, 1),
		runs:       make(map[string]*run),
	}
	svc.Observe(e.observe)
	return e
}

// Create stores a new task and queues it to run. Tasks run in the order
// they were created, at most maxRunning at a time.
func (e *executor) Create(ctx context.Context, nt tasklife.NewTask) (*tasklife.Task, error) {
	e.createMu.Lock()
	defer e.createMu.Unlock()
	if e.isClosed() {
		return nil, errShuttingDown
	}
	t, err := e.svc.Create(ctx, e.withOwner(nt))
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.queue = append(e.queue, t.Clone())
	e.dispatchLocked()
	return t, nil
}

// withOwner returns nt with this instance named as its owner, if it has a
// name, replacing any owner the caller gave.
func (e *executor) withOwner(nt tasklife.NewTask) tasklife.NewTask {
	if e.owner == "" {
		return nt
	}
	a := make(map[string]string, len(nt.Annotations)+1)
	maps.Copy(a, nt.Annotations)
	a[ownerKey] = e.owner
	nt.Annotations = a
	return nt
}

// Enqueue queues tasks that are already stored as PENDING, in the order
// given, behind those queued before: the tasks this instance accepted before
// it last stopped.
func (e *executor) Enqueue(tasks []*tasklife.Task) {
	e.createMu.Lock()
	defer e.createMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range tasks {
		e.queue = append(e.queue, t.Clone())
	}
	e.dispatchLocked()
}

func (e *executor) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// observe is the Service observer. It runs in the goroutine that committed
// the change, so it only hands work on.
func (e *executor) observe(_ context.Context, c tasklife.Change) {
	if c.To == tasklife.StateCanceling {
		e.Stop(c.Task.GUID)
	}
}

// Stop makes a task that is now CANCELING stop: a running one gets its
// process group signalled, a queued one leaves the queue unstarted. It is
// idempotent, never blocks, and does nothing for a task this executor does
// not hold, so it may be called for every cancel anyone made: the local
// observer and the database listener both call it.
func (e *executor) Stop(guid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.runs[guid]; r != nil {
		r.stop()
		return
	}
	i := slices.IndexFunc(e.queue, func(t *tasklife.Task) bool { return t.GUID == guid })
	if i < 0 {
		// Another instance's, already done, or not queued yet (its
		// create is still on the way): then the dispatcher's Start will
		// find it CANCELING.
		return
	}
	e.queue = slices.Delete(e.queue, i, i+1)
	e.goLocked(func() {
		// It never started, so there is nothing to stop.
		e.report(guid, tasklife.EventCanceled, "")
	})
}

// goLocked runs f in a goroutine that Shutdown waits for.
func (e *executor) goLocked(f func()) {
	e.active++
	go func() {
		defer func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.active--
			if e.active == 0 && e.idle != nil {
				close(e.idle)
				e.idle = nil
			}
		}()
		f()
	}()
}

// dispatchLocked starts queued tasks while there are free slots.
func (e *executor) dispatchLocked() {
	for !e.closed && len(e.runs) < e.maxRunning && len(e.queue) > 0 {
		t := e.queue[0]
		e.queue = slices.Delete(e.queue, 0, 1)
		r := &run{task: t, cancel: make(chan struct{})}
		e.runs[t.GUID] = r
		e.goLocked(func() { e.run(r) })
	}
}

// run takes one task from PENDING to a terminal state and frees its slot.
func (e *executor) run(r *run) {
	defer func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.runs, r.task.GUID)
		e.dispatchLocked()
	}()
	ev, reason := e.execute(r)
	if ev != "" && !e.report(r.task.GUID, ev, reason) {
		// The outcome is lost: the record stays, so that the next start
		// does not take the task for one that never ran.
		return
	}
	if e.state != nil {
		e.state.remove(r.task.GUID, e.log.With("task_guid", r.task.GUID))
	}
}

// execute runs the task's process and returns the event that ends the task
// ("" when there is nothing left to report).
func (e *executor) execute(r *run) (tasklife.Event, string) {
	t := r.task
	log := e.log.With("task_guid", t.GUID, "task_name", t.Name)
	p, err := startProcess(e.shell, t.GUID, t.Command, log)
	if err != nil {
		log.Error("task could not be started", "error", err)
		return tasklife.EventFail, tasklife.ReasonCannotBeStarted
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	if e.state != nil {
		// Before the gate opens: until then the group is one shell that
		// Pdeathsig kills with taskd, afterwards only the record finds
		// what it may have started.
		if err := e.state.add(t.GUID, p.cmd.Process.Pid); err != nil {
			p.finish(log, time.Time{})
			log.Error("task's process could not be recorded; not running it", "error", err)
			return tasklife.EventFail, tasklife.ReasonCannotBeStarted
		}
		// run removes the record once the outcome is stored.
	}

	if _, err := e.svc.Start(context.Background(), t.GUID); err != nil {
		// The gate is still shut: the command has not run, and never will.
		p.finish(log, time.Time{})
		var te *tasklife.TransitionError
		switch {
		case errors.As(err, &te) && te.State == tasklife.StateCanceling:
			log.Info("task canceled while it was being started: its command never ran")
			return tasklife.EventCanceled, ""
		case errors.As(err, &te):
			return "", "" // Someone else already ended it.
		}
		log.Error("task could not be marked as running", "error", err)
		return tasklife.EventFail, tasklife.ReasonCannotBeStarted
	}
	log.Info("task started", "pid", p.cmd.Process.Pid)
	p.open()

	signaled := false
	var linger time.Time // until when the group may outlive its leader
	select {
	case <-p.exited:
	case <-r.cancel:
		if p.hasExited() {
			// It ended on its own before the cancel reached it: its exit
			// status stands, whatever it is.
			break
		}
		signaled = true
		log.Info("task canceling: sending SIGTERM to its process group", "grace", e.grace)
		p.signal(syscall.SIGTERM)
		linger = time.Now().Add(e.grace)
		timer := time.NewTimer(e.grace)
		select {
		case <-p.exited:
			timer.Stop()
		case <-timer.C:
			log.Warn("task ignored SIGTERM: sending SIGKILL to its process group")
			p.signal(syscall.SIGKILL)
			<-p.exited
		}
	}
	ws := p.finish(log, linger)
	ev, reason := outcome(ws, signaled)
	log.Info("task process ended", "how", describe(ws), "event", string(ev))
	return ev, reason
}

// outcome maps how the process ended to the event that ends its task.
// Once taskd has signalled the group, any end is the cancel taking effect,
// exit 0 included: a task that traps SIGTERM and exits 0 was still stopped
// before it finished. Only an end that came before the signal keeps its own
// outcome, and then signaled is false.
func outcome(ws syscall.WaitStatus, signaled bool) (tasklife.Event, string) {
	switch {
	case signaled:
		return tasklife.EventCanceled, ""
	case ws.Exited() && ws.ExitStatus() == 0:
		return tasklife.EventSucceed, ""
	case ws.Signaled():
		// A shell reports death by signal N as status 128+N; so does Diego.
		return tasklife.EventFail, tasklife.ExitedWithStatus(128 + int(ws.Signal()))
	default:
		return tasklife.EventFail, tasklife.ExitedWithStatus(ws.ExitStatus())
	}
}

// describe says how a process ended, for the log.
func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("killed by signal %d (%s)", ws.Signal(), ws.Signal())
	}
	return "exited with status " + strconv.Itoa(ws.ExitStatus())
}

// report applies the event that ends a task and reports whether the store
// took it. The change is logged, never lost silently: a task left unfinished
// here stays visible as such.
func (e *executor) report(guid string, ev tasklife.Event, reason string) bool {
	t, err := e.svc.Apply(context.Background(), guid, ev, reason)
	// A store that is briefly unreachable (a database restarting) gets a
	// few more tries: the outcome is known, and the event is idempotent, so
	// a try whose commit went unacknowledged is harmless to repeat. The
	// Service repeats such a write too, but only for a lost answer, within
	// about 60ms; these tries outlast an outage of about 3s.
	for wait := reportRetry; errors.Is(err, tasklife.ErrUnavailable) && wait <= maxReportRetry; wait *= 2 {
		time.Sleep(wait)
		t, err = e.svc.Apply(context.Background(), guid, ev, reason)
	}
	if err != nil {
		e.log.Error("task outcome could not be recorded", "task_guid", guid, "event", string(ev), "error", err)
		return false
	}
	e.log.Info("task ended", "task_guid", guid, "task_name", t.Name, "state", string(t.State), "failure_reason", t.FailureReason)
	return true
}

// Shutdown refuses new tasks, cancels every running task, and every queued
// one unless keepPending, through the Service (so each ends FAILED "task was
// cancelled", or SUCCEEDED if it finished first) and waits for them. When ctx ends first it kills what is
// left and returns ctx's error.
func (e *executor) Shutdown(ctx context.Context) error {
	e.createMu.Lock()
	e.mu.Lock()
	e.closed = true
	var guids []string
	if e.keepPending {
		if len(e.queue) > 0 {
			e.log.Info("leaving queued tasks PENDING for the next start of this instance", "tasks", len(e.queue))
		}
		e.queue = nil
	}
	for _, t := range e.queue {
		guids = append(guids, t.GUID)
	}
	for guid := range e.runs {
		guids = append(guids, guid)
	}
	e.mu.Unlock()
	e.createMu.Unlock()

	for _, guid := range guids {
		// The observer does the rest. A task that ended meanwhile refuses
		// the cancel, which is fine.
		_, err := e.svc.Cancel(ctx, guid)
		if err != nil && !errors.Is(err, tasklife.ErrInvalidTransition) {
			// Stop it all the same: a store that is down must not keep
			// taskd from exiting. The task stays as the store last saw
			// it, and a restart reconciles it.
			e.log.Error("task could not be canceled; stopping it anyway", "task_guid", guid, "error", err)
			e.Stop(guid)
		}
	}
	e.mu.Lock()
	if e.active == 0 {
		e.mu.Unlock()
		return nil
	}
	idle := make(chan struct{})
	e.idle = idle
	e.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
	}
	e.mu.Lock()
	for _, r := range e.runs {
		r.kill()
	}
	e.mu.Unlock()
	return ctx.Err()
}
