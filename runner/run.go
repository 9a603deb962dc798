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

// run is one task the runner has claimed, from its claim until its work
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

	timer *time.Timer // its maximum run time, if it has one

	returned    bool // execute is done with the work, or it never ran
	interrupted bool // the context was cancelled before the work returned
	overdue     bool // the work outlived its grace; Run no longer waits for it
	hardStopped bool // HardStop was called for it
}

// startLocked runs the work of t, a task it has claimed: it holds a slot
// until the work returns.
func (r *Runner) startLocked(t *tasklife.Task) {
	ctx, cancel := context.WithCancelCause(context.Background())
	run := &run{task: t, ctx: ctx, cancel: cancel, done: make(chan struct{}), over: make(chan struct{}), stopped: make(chan struct{})}
	r.runs[t.GUID] = run
	r.active++
	select {
	case r.handoff <- run: // to an idle worker
	default:
		go r.worker(run)
	}
}

// worker executes run, then the runs handed to it while it waits, idle,
// until the runner stops, or as one idle worker too many. A goroutine per
// task grew its stack again for every task: a fifth of what running a task
// cost the runner, in BenchmarkRunnerThroughput.
func (r *Runner) worker(run *run) {
	for {
		r.execute(run)
		if r.idleWorkers.Add(1) > int32(r.cfg.MaxRunning) {
			r.idleWorkers.Add(-1)
			return
		}
		select {
		case run = <-r.handoff:
			r.idleWorkers.Add(-1)
		case <-r.stopCtx.Done():
			r.idleWorkers.Add(-1)
			return
		}
	}
}

// maxRunTime is how long t's work may run; 0 is no limit.
func (r *Runner) maxRunTime(t *tasklife.Task) time.Duration {
	d := time.Duration(0)
	if r.cfg.Timeout != nil {
		d = r.cfg.Timeout(t)
	}
	if d == 0 {
		d = r.cfg.MaxRunTime
	}
	return max(d, 0)
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

// execute runs the claimed task's work and hands its outcome to record.
func (r *Runner) execute(run *run) {
	t := run.task
	log := logname.NewTask(r.log, t.GUID, t.Name)
	defer func() {
		run.markStopped()
		run.cancel(nil)
		r.mu.Lock()
		defer r.mu.Unlock()
		if run.timer != nil {
			run.timer.Stop()
		}
		run.returned = true
		close(run.done)
		delete(r.runs, t.GUID)
		if !run.overdue {
			r.doneLocked()
		}
		r.poke()
	}()

	limit := r.maxRunTime(t)
	r.mu.Lock()
	if run.interrupted {
		// Cancelled, or ended, before its work started: it never runs.
		run.returned = true
		if o, ok := r.outcomeLocked(run, false, nil); ok {
			r.recordLocked(o)
		}
		r.mu.Unlock()
		log.Info("task's work not started: the task was cancelled or ended first")
		return
	}
	if limit > 0 {
		run.timer = time.AfterFunc(limit, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.interruptLocked(run, ErrTimedOut)
		})
	}
	r.mu.Unlock()
	log.Info("task started")

	err := r.callWork(run.ctx, t, log)
	run.finished.Store(true)
	run.markStopped()
	completed, err := unmark(err)
	r.mu.Lock()
	run.returned = true
	o, ok := r.outcomeLocked(run, completed, err)
	claimed := ok && r.claimLocked(o)
	overdue, ended := run.overdue, errors.Is(context.Cause(run.ctx), ErrTaskEnded)
	r.mu.Unlock()
	if claimed {
		r.recordHere(o) // while the run still holds its slot and its count
	}
	switch {
	case overdue:
		log.Warn("task's work returned after its grace period; its outcome was recorded then")
	case ended:
		log.Info("task's work stopped: the task was ended elsewhere")
	case o.Event == tasklife.EventFail:
		log.Info("task's work failed", slog.Any("error", err))
	}
}

// outcomeLocked is the task's outcome once its work has returned err
// (completed: marked with Completed), or is not to run at all; false when
// there is none to record: the task was ended elsewhere, or its outcome
// was recorded when its work outlived its grace.
func (r *Runner) outcomeLocked(run *run, completed bool, err error) (Outcome, bool) {
	o := Outcome{GUID: run.task.GUID, Name: run.task.Name, Owner: r.cfg.Owner}
	cause := context.Cause(run.ctx)
	switch {
	case run.overdue || (run.interrupted && errors.Is(cause, ErrTaskEnded)):
		return o, false
	case run.interrupted && !completed && errors.Is(cause, ErrTimedOut):
		o.Event, o.Reason = tasklife.EventFail, tasklife.ReasonTimedOut
	case run.interrupted && !completed:
		o.Event = tasklife.EventCanceled
	case err == nil:
		o.Event = tasklife.EventSucceed
	default:
		o.Event, o.Reason = tasklife.EventFail, reasonOf(err)
	}
	return o, true
}

// callWork runs the work, turning a panic into a failure.
func (r *Runner) callWork(ctx context.Context, t *tasklife.Task, log *logname.Task) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("task's work panicked", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
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
	if run.returned || run.finished.Load() {
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.log.Warn("task's work outlived its grace period", "task_guid", run.task.GUID,
		"task_name", logname.Short(run.task.Name), "grace", r.cfg.Grace, "hard_stop", r.cfg.HardStop != nil)
	if r.cfg.HardStop != nil {
		r.hardStopRun(run)
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
	if o, ok := r.outcomeLocked(run, false, nil); ok {
		r.recordLocked(o)
	}
	run.overdue = true
	close(run.over)
	r.doneLocked() // execute's count: Run no longer waits for this work
}

// hardStopRun calls HardStop for run's task, once.
func (r *Runner) hardStopRun(run *run) {
	r.mu.Lock()
	once := !run.hardStopped && r.cfg.HardStop != nil
	run.hardStopped = true
	r.mu.Unlock()
	if once {
		r.hardStop(run.task.Clone())
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
