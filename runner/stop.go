package runner

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/tasklife/tasklife"
)

// stop ends Run: no new task starts; running work is cancelled with
// ErrShutdown and its tasks cancelled through the Service; the work gets its
// grace period; PENDING tasks are cancelled if CancelPendingOnStop; and
// outcomes are retried until StopTimeout after the work has stopped.
func (r *Runner) stop() error {
	r.mu.Lock()
	r.stopped = true
	close(r.stopping)
	r.queue, r.queued = nil, map[string]bool{}
	var held []string
	runs := make([]*run, 0, len(r.runs))
	for guid, run := range r.runs {
		r.interruptLocked(run, ErrShutdown)
		runs = append(runs, run)
		if run.running {
			held = append(held, guid)
		}
	}
	r.mu.Unlock()

	// The cancel shows in the store at once, as a user's would; if the
	// store is down, the canceled outcome commits it later.
	for _, guid := range held {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
		_, _ = r.svc.Cancel(ctx, guid)
		cancel()
	}
	if r.cfg.CancelPendingOnStop {
		r.cancelPending()
	}

	// The work stops within its grace period, or is left behind.
	for _, run := range runs {
		select {
		case <-run.done:
		case <-run.over:
		}
	}
	deadline := time.AfterFunc(r.cfg.StopTimeout, func() { close(r.giveUp) })
	defer deadline.Stop()
	r.mu.Lock()
	var idle chan struct{}
	if r.active > 0 {
		idle = make(chan struct{})
		r.idle = idle
	}
	r.mu.Unlock()
	if idle != nil {
		<-idle
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.running, r.finished = false, true
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
// the pages do not shift under it.
func (r *Runner) cancelPending() {
	q := tasklife.ListQuery{States: []tasklife.State{tasklife.StatePending}, PerPage: tasklife.MaxPerPage}
	var pending []*tasklife.Task
	for q.Page = 1; ; q.Page++ {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
		page, err := r.svc.List(ctx, q)
		cancel()
		if err != nil {
			r.log.Error("runner: PENDING tasks could not be listed to cancel them; they stay PENDING", "error", err)
			break
		}
		for _, t := range page.Tasks {
			if r.cfg.Accept(t) {
				pending = append(pending, t)
			}
		}
		if len(page.Tasks) < q.PerPage {
			break
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range pending {
		r.recordLocked(Outcome{GUID: t.GUID, Name: t.Name, Event: tasklife.EventCanceled})
	}
}
