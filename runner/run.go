package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/logname"
)

// run is one task the runner has taken, from its start until its work
// returns. Its fields are guarded by the Runner's mu, but for finished.
type run struct {
	task   *tasklife.Task
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when execute is through with the work
	over   chan struct{} // closed when the work is found overdue
	// stopped is closed once the work has returned, or is known never to
	// run: what a stopping Run waits for before it bounds its retries.
	stopped     chan struct{}
	stoppedOnce sync.Once

	// finished is set the moment the work returns, before execute takes
	// the lock: a cancel that comes after it did not reach the work.
	finished atomic.Bool

	running     bool // the task is RUNNING and its work may run
	returned    bool // execute is done with the work, or it never ran
	interrupted bool // the context was cancelled before the work returned
	overdue     bool // the work outlived its grace; Run no longer waits for it
}

// startLocked takes t: it holds a slot until t's work returns.
func (r *Runner) startLocked(t *tasklife.Task) {
	ctx, cancel := context.WithCancelCause(context.Background())
	run := &run{task: t, ctx: ctx, cancel: cancel, done: make(chan struct{}), over: make(chan struct{}), stopped: make(chan struct{})}
	r.runs[t.GUID] = run
	r.active++
	go r.execute(run)
}

func (run *run) markStopped() { run.stoppedOnce.Do(func() { close(run.stopped) }) }

// interruptLocked cancels the work's context with cause, unless the work
// has returned, and starts its grace period. Only the first cause counts.
func (r *Runner) interruptLocked(run *run, cause error) {
	if run.returned || run.interrupted || run.finished.Load() {
		return
	}
	run.interrupted = true
	run.cancel(cause)
	r.goLocked(func() { r.watchGrace(run) })
}

// execute starts the task, runs its work and hands its outcome to record.
func (r *Runner) execute(run *run) {
	t := run.task
	log := r.log.With("task_guid", t.GUID, "task_name", logname.Short(t.Name))
	defer func() {
		run.markStopped()
		run.cancel(nil)
		r.mu.Lock()
		defer r.mu.Unlock()
		run.returned = true
		close(run.done)
		delete(r.runs, t.GUID)
		if !run.overdue {
			r.doneLocked()
		}
		r.poke()
	}()

	started := r.start(run, log)
	if started == nil {
		return
	}
	r.mu.Lock()
	if run.interrupted {
		// Cancelled while it was being started: the work never runs.
		run.returned = true
		r.recordLocked(Outcome{GUID: t.GUID, Name: t.Name, Event: tasklife.EventCanceled})
		r.mu.Unlock()
		log.Info("task cancelled before its work started")
		return
	}
	run.running = true
	r.mu.Unlock()
	log.Info("task started")

	err := r.callWork(run.ctx, started, log)
	run.finished.Store(true)
	run.markStopped()
	completed, err := unmark(err)
	o := Outcome{GUID: t.GUID, Name: t.Name}
	r.mu.Lock()
	run.returned = true
	overdue, interrupted := run.overdue, run.interrupted
	ended := errors.Is(context.Cause(run.ctx), ErrTaskEnded)
	switch {
	case overdue || (interrupted && ended):
	case interrupted && !completed:
		o.Event = tasklife.EventCanceled
	case err == nil:
		o.Event = tasklife.EventSucceed
	default:
		o.Event, o.Reason = tasklife.EventFail, reasonOf(err)
	}
	claimed := o.Event != "" && r.claimLocked(o)
	r.mu.Unlock()
	if claimed {
		r.recordHere(o) // while the run still holds its slot and its count
	}
	switch {
	case overdue:
		log.Warn("task's work returned after its grace period; its task was recorded canceled then")
	case interrupted && ended:
		log.Info("task's work stopped: the task was ended elsewhere")
	case o.Event == tasklife.EventFail:
		log.Info("task's work failed", "error", err)
	}
}

// start moves the task to RUNNING, trying again while the store is
// unavailable: a task accepted with 202 is never failed for a brief outage.
// It returns the task as started, or nil if it must not run (the outcome, if
// one is due, is handed to record).
func (r *Runner) start(run *run, log *slog.Logger) *tasklife.Task {
	t := run.task
	for try := 0; ; try++ {
		select {
		case <-r.stopCtx.Done():
			if errors.Is(context.Cause(run.ctx), ErrCanceled) {
				// Cancelled before it could start: end it now.
				r.mu.Lock()
				r.recordLocked(Outcome{GUID: t.GUID, Name: t.Name, Event: tasklife.EventCanceled})
				r.mu.Unlock()
				return nil
			}
			// It stays PENDING for the next Run (or is cancelled with the
			// other PENDING tasks), unless the lost answer of an earlier
			// try had started it: then it is RUNNING without work, as
			// after a crash, for the host's recovery to end.
			log.Info("task not started: the runner is stopping")
			return nil
		default:
		}
		// A start that hangs on the store must not hold a stop up.
		ctx, cancel := context.WithTimeout(r.stopCtx, r.cfg.StoreTimeout)
		started, err := r.svc.Start(ctx, t.GUID)
		cancel()
		var te *tasklife.TransitionError
		switch {
		case err == nil:
			return started
		case errors.As(err, &te) && te.State == tasklife.StateCanceling:
			log.Info("task cancelled before its work started")
			r.mu.Lock()
			r.recordLocked(Outcome{GUID: t.GUID, Name: t.Name, Event: tasklife.EventCanceled})
			r.mu.Unlock()
			return nil
		case errors.As(err, &te) || errors.Is(err, tasklife.ErrNotFound):
			log.Info("task not started: it was ended elsewhere", "error", err)
			return nil
		}
		if try == 0 || try%10 == 0 {
			log.Warn("task could not be started yet; trying again", "error", err, "tries", try+1)
		}
		timer := time.NewTimer(retryWait(try))
		select {
		case <-timer.C:
		case <-r.stopCtx.Done():
			timer.Stop()
		}
	}
}

// callWork runs the work, turning a panic into a failure.
func (r *Runner) callWork(ctx context.Context, t *tasklife.Task, log *slog.Logger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("task's work panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("work panicked: %v", p)
		}
	}()
	return r.work(ctx, t)
}

// hardStopWait bounds how long the runner waits, after HardStop, for the
// work to return before it records the task canceled without it: long
// enough for a killed process to be reaped, short enough that a stop stays
// bounded.
const hardStopWait = time.Second

// watchGrace runs once the work's context is cancelled. If the work has not
// returned within the grace period, the host's HardStop is called, and the
// work gets hardStopWait to return, so that the task shows FAILED only once
// its work is gone (taskd: the group is killed and reaped). Work still
// running then is recorded canceled anyway, and Run no longer waits for
// it; it keeps its slot until it returns. A task still being started has
// no work to stop: its start ends it.
func (r *Runner) watchGrace(run *run) {
	timer := time.NewTimer(r.cfg.Grace)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-run.done:
		return
	}
	r.mu.Lock()
	if run.returned || !run.running || run.finished.Load() {
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.log.Warn("task's work outlived its grace period", "task_guid", run.task.GUID,
		"task_name", logname.Short(run.task.Name), "grace", r.cfg.Grace, "hard_stop", r.cfg.HardStop != nil)
	if r.cfg.HardStop != nil {
		r.hardStop(run.task.Clone())
		wait := time.NewTimer(hardStopWait)
		defer wait.Stop()
		select {
		case <-run.stopped:
			return // execute records it canceled
		case <-wait.C:
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if run.returned || run.finished.Load() {
		return
	}
	run.overdue = true
	close(run.over)
	r.doneLocked() // execute's count: Run no longer waits for this work
	if !errors.Is(context.Cause(run.ctx), ErrTaskEnded) {
		r.recordLocked(Outcome{GUID: run.task.GUID, Name: run.task.Name, Event: tasklife.EventCanceled})
	}
}

// hardStop calls the host's HardStop, which must not take the runner down.
func (r *Runner) hardStop(t *tasklife.Task) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("runner: HardStop panicked", "task_guid", t.GUID, "panic", p)
		}
	}()
	r.cfg.HardStop(t)
}
