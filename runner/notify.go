package runner

import (
	"context"
	"errors"
	"slices"

	"github.com/tasklife/tasklife"
)

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

// Notify tells the runner that the task guid is now in state, for changes
// the Service's observer cannot hear: those committed by another process.
// With pgstore, call it from Store.Listen's Handle:
//
//	go store.Listen(ctx, pgstore.ListenOptions{Handle: func(_ context.Context, n pgstore.Notification) {
//		r.Notify(n.GUID, n.To)
//	}})
//
// It is idempotent and never blocks. A Notify before Run has started, or
// after it returned, is not acted on; Run's sweep of CANCELING tasks and
// list of PENDING ones find what it would have said.
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
		return // its outcome is on its way, or there is nothing to do
	}
	// A cancel of a task no work holds: it never started here.
	if i := slices.IndexFunc(r.queue, func(q *tasklife.Task) bool { return q.GUID == guid }); i >= 0 {
		t = r.queue[i] // accepted when it was queued
		r.queue = slices.Delete(r.queue, i, i+1)
		delete(r.queued, guid)
		r.recordLocked(Outcome{GUID: guid, Name: t.Name, Event: tasklife.EventCanceled})
		return
	}
	if t == nil {
		// Heard of elsewhere, and not queued here: look it up, since no
		// list of PENDING tasks will find it any more.
		r.goLocked(func() { r.lookUp(guid) })
		return
	}
	r.goLocked(func() { r.endIfMine(t.Clone()) })
}

// endIfMine ends a CANCELING task that no work holds, if the runner
// accepts it. Accept is asked without the lock, so the task is checked
// again after.
func (r *Runner) endIfMine(t *tasklife.Task) {
	if !r.cfg.Accept(t) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.unrecorded[t.GUID]; ok || r.runs[t.GUID] != nil {
		return
	}
	if i := slices.IndexFunc(r.queue, func(q *tasklife.Task) bool { return q.GUID == t.GUID }); i >= 0 {
		r.queue = slices.Delete(r.queue, i, i+1)
		delete(r.queued, t.GUID)
	}
	r.recordLocked(Outcome{GUID: t.GUID, Name: t.Name, Event: tasklife.EventCanceled})
}

// lookUp reads a task whose cancel was heard of through Notify, trying
// again while the store is unavailable, and ends it if it is the runner's
// and still CANCELING without work.
func (r *Runner) lookUp(guid string) {
	for try := 0; ; try++ {
		ctx, cancel := r.storeCtx()
		t, err := r.svc.Get(ctx, guid)
		cancel()
		switch {
		case err == nil:
			if t.State == tasklife.StateCanceling {
				r.endIfMine(t)
			}
			return
		case errors.Is(err, tasklife.ErrNotFound):
			return
		}
		if try == 0 {
			r.log.Warn("runner: a cancelled task could not be read yet; trying again", "task_guid", guid, "error", err)
		}
		if !r.pause(retryWait(try)) {
			return // the next Run's sweep finds it
		}
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
		ctx, cancel := r.storeCtx()
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

// sweep ends the CANCELING tasks the runner accepts that no work holds: a
// cancel it could not hear (made while no Run was running, or announced
// while the store was down) ends here, so no task stays CANCELING for want
// of its runner.
func (r *Runner) sweep() {
	q := tasklife.ListQuery{States: []tasklife.State{tasklife.StateCanceling}, PerPage: tasklife.MaxPerPage}
	for q.Page = 1; ; q.Page++ {
		ctx, cancel := r.storeCtx()
		page, err := r.svc.List(ctx, q)
		cancel()
		if err != nil {
			return // the next sweep tries again
		}
		for _, t := range page.Tasks {
			r.changed(t.GUID, t.State, t)
		}
		if len(page.Tasks) < q.PerPage {
			return
		}
	}
}
