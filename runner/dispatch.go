package runner

import (
	"context"

	"github.com/tasklife/tasklife"
)

// queueLimit bounds the tasks held in memory waiting for a slot; beyond it,
// tasks stay in the store and are listed again when there is room. One list
// page holds them all.
func (r *Runner) queueLimit() int {
	return min(max(4*r.cfg.MaxRunning, 64), tasklife.MaxPerPage)
}

// dispatch starts queued tasks while there are free slots, listing PENDING
// tasks from the store when the queue runs dry and it may hold more.
func (r *Runner) dispatch(ctx context.Context) {
	for ctx.Err() == nil {
		r.mu.Lock()
		if r.stopped || len(r.runs) >= r.cfg.MaxRunning {
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
// and reports whether it queued any. While it runs, tasks created in this
// process are left for the next list, which finds them in creation order.
func (r *Runner) list() bool {
	r.mu.Lock()
	r.listing = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.listing = false
		r.mu.Unlock()
	}()
	q := tasklife.ListQuery{States: []tasklife.State{tasklife.StatePending}, PerPage: r.queueLimit()}
	added := false
	for q.Page = 1; ; q.Page++ {
		ctx, cancel := r.storeCtx()
		page, err := r.svc.List(ctx, q)
		cancel()
		if err != nil {
			r.log.Warn("runner: PENDING tasks could not be listed; trying again at the next poll", "error", err)
			r.mu.Lock()
			r.refill = true
			r.mu.Unlock()
			return added
		}
		var accepted []*tasklife.Task
		for _, t := range page.Tasks {
			if r.cfg.Accept(t) {
				accepted = append(accepted, t)
			}
		}
		r.mu.Lock()
		for _, t := range accepted {
			// A task whose outcome is on its way may still show PENDING
			// in a page read before it started: never take it twice.
			_, recording := r.unrecorded[t.GUID]
			if r.runs[t.GUID] == nil && !r.queued[t.GUID] && !recording && len(r.queue) < r.queueLimit() {
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

// created queues a task created in this process, if it may go straight to
// the back of the queue; if not, a later list finds it in its place.
func (r *Runner) created(t *tasklife.Task) {
	if !r.cfg.Accept(t) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running || r.stopped || r.queued[t.GUID] || r.runs[t.GUID] != nil {
		return
	}
	if r.refill || r.listing || len(r.queue) >= r.queueLimit() {
		// Older PENDING tasks may be waiting in the store, or in a list
		// under way: keep the order.
		r.refill = true
	} else {
		r.queue = append(r.queue, t.Clone())
		r.queued[t.GUID] = true
	}
	r.poke()
}
