package runner

import (
	"context"
	"errors"

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
// A PENDING state makes the runner claim tasks at once rather than at its
// next poll.
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

// changed acts on a task's new state: a cancel reaches its work; a task
// ended by someone else stops its work; a cancelled task that no runner
// claimed is ended. t is the task when known.
func (r *Runner) changed(guid string, state tasklife.State, t *tasklife.Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		return
	}
	if run := r.runs[guid]; run != nil {
		r.changedRunLocked(run, state)
		return
	}
	if state == tasklife.StatePending {
		r.more = true // one to claim, perhaps
		r.poke()
		return
	}
	if r.claiming > 0 && state != tasklife.StateRunning {
		r.early[guid] = state // a claim under way may be taking it
	}
	if _, ok := r.unrecorded[guid]; ok || state != tasklife.StateCanceling {
		return // its outcome is on its way, or there is nothing to do
	}
	if t == nil {
		// Heard of elsewhere: look it up, to know whose it is.
		r.goLocked(func() { r.lookUp(guid) })
		return
	}
	r.goLocked(func() { r.endIfMine(t.Clone()) })
}

// changedRunLocked acts on a new state of a task whose work runs here.
func (r *Runner) changedRunLocked(run *run, state tasklife.State) {
	switch {
	case state == tasklife.StateCanceling:
		r.interruptLocked(run, ErrCanceled)
	case state.Terminal():
		if run.interrupted && !run.returned && !run.finished.Load() {
			// Ended while its work was being stopped: its cancel
			// deadline passed, or it was taken from this runner. The
			// work is stopped hard now, without waiting for its grace.
			r.goLocked(func() { r.hardStopRun(run) })
		}
		r.interruptLocked(run, ErrTaskEnded)
	}
}

// endIfMine ends a CANCELING task that no work here holds, if no other
// runner claimed it (its owner, or its deadline, ends it) and this runner
// accepts it. Accept is asked without the lock, so the task is checked
// again after.
func (r *Runner) endIfMine(t *tasklife.Task) {
	if t.Owner != "" && t.Owner != r.cfg.Owner || !r.accepts(t) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.unrecorded[t.GUID]; ok || r.runs[t.GUID] != nil {
		return
	}
	if t.Owner != "" && r.claiming > 0 {
		// Claimed here, by a claim that has not returned yet: its work
		// hears of the cancel once it is started.
		r.early[t.GUID] = tasklife.StateCanceling
		return
	}
	r.recordLocked(Outcome{GUID: t.GUID, Name: t.Name, Event: tasklife.EventCanceled, Owner: t.Owner})
}

// lookUp reads a task whose cancel was heard of through Notify, trying
// again while the store is unavailable, and ends it if it is the runner's
// and still CANCELING without work.
func (r *Runner) lookUp(guid string) {
	for try := 0; ; try++ {
		ctx := r.storeCtx()
		t, err := r.svc.Get(ctx, guid)
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
	for guid := range r.runs {
		guids = append(guids, guid)
	}
	r.mu.Unlock()
	for len(guids) > 0 {
		n := min(len(guids), tasklife.MaxPerPage)
		ctx := r.storeCtx()
		page, err := r.svc.List(ctx, tasklife.ListQuery{GUIDs: guids[:n], PerPage: tasklife.MaxPerPage})
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

// sweep ends the CANCELING tasks the runner accepts that no runner claimed
// (cancelled while PENDING): a cancel it could not hear (made while no Run
// was running, or announced while the store was down) ends here, so no task
// stays CANCELING for want of a runner. Claimed ones are their owner's, or
// their cancel deadline's.
func (r *Runner) sweep() {
	q := tasklife.ListQuery{States: []tasklife.State{tasklife.StateCanceling}, PerPage: tasklife.MaxPerPage}
	for q.Page = 1; ; q.Page++ {
		ctx := r.storeCtx()
		page, err := r.svc.List(ctx, q)
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
