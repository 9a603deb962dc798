package runner

import (
	"slices"
	"strings"
	"time"

	"github.com/tasklife/tasklife"
)

// stop ends Run: no new task starts; running work is cancelled with
// ErrShutdown and its tasks cancelled through the Service; the work gets its
// grace period; PENDING tasks are cancelled if CancelPendingOnStop; and
// outcomes are retried until StopTimeout after the work has stopped. Every
// store call is bounded by that too, so Run returns within Grace +
// StopTimeout.
func (r *Runner) stop() error {
	r.mu.Lock()
	r.stopped = true
	r.stopNow()
	if r.claimRetry != nil {
		r.claimRetry.Stop()
	}
	runs := make([]*run, 0, len(r.runs))
	for _, run := range r.runs {
		r.interruptLocked(run, ErrShutdown)
		runs = append(runs, run)
		if !run.finished.Load() {
			// The cancel shows in the store at once, as a user's would;
			// if the store is down, the canceled outcome commits it. Work
			// that has returned keeps its outcome, on its way already.
			guid := run.task.GUID
			r.goLocked(func() {
				ctx := r.storeCtx()
				_, _ = r.svc.Cancel(ctx, guid)
			})
		}
	}
	if r.cfg.CancelPendingOnStop {
		r.goLocked(r.cancelPending)
	}
	r.mu.Unlock()

	// The work stops within its grace period, or is left behind.
	for _, run := range runs {
		select {
		case <-run.stopped:
		case <-run.over:
		}
	}
	deadline := time.AfterFunc(r.cfg.StopTimeout, r.quit)
	defer deadline.Stop()
	defer r.quit()
	for {
		r.mu.Lock()
		if r.active == 0 {
			// In the same step as the count is seen at zero: from now on
			// nothing starts a goroutine.
			r.running, r.finished = false, true
			break
		}
		idle := make(chan struct{})
		r.idle = idle
		r.mu.Unlock()
		<-idle
	}
	defer r.mu.Unlock()
	if len(r.unrecorded) == 0 {
		return nil
	}
	e := &UnrecordedError{}
	for _, o := range r.unrecorded {
		e.Outcomes = append(e.Outcomes, o)
	}
	slices.SortFunc(e.Outcomes, func(a, b Outcome) int { return strings.Compare(a.GUID, b.GUID) })
	return e
}

// cancelPending records every PENDING task the runner accepts as canceled
// (the record commits the cancel first), so that none waits for a runner
// that is gone. It pages through them all before it cancels any, so that
// the pages do not shift under it, then records them one after another, so
// that a long queue does not become as many goroutines.
func (r *Runner) cancelPending() {
	q := tasklife.ListQuery{States: []tasklife.State{tasklife.StatePending}, PerPage: tasklife.MaxPerPage}
	var pending []Outcome
	for q.Page = 1; ; q.Page++ {
		ctx := r.storeCtx()
		page, err := r.svc.List(ctx, q)
		if err != nil {
			r.log.Error("runner: PENDING tasks could not be listed to cancel them; they stay PENDING", "error", err)
			break
		}
		for _, t := range page.Tasks {
			if r.accepts(t) {
				pending = append(pending, Outcome{GUID: t.GUID, Name: t.Name, Event: tasklife.EventCanceled})
			}
		}
		if len(page.Tasks) < q.PerPage {
			break
		}
	}
	r.mu.Lock()
	var mine []Outcome
	for _, o := range pending {
		if _, ok := r.unrecorded[o.GUID]; !ok && r.runs[o.GUID] == nil {
			r.unrecorded[o.GUID] = o
			mine = append(mine, o)
		}
	}
	r.mu.Unlock()
	for _, o := range mine {
		r.retry(o, 0)
	}
}
