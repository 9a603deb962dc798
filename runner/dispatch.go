package runner

import (
	"context"
	"time"

	"github.com/tasklife/tasklife"
)

// dispatch claims PENDING tasks while there are free slots and the store may
// hold some, and starts their work. A claim that takes fewer tasks than it
// asked for found the store empty: the next create, Notify or poll makes
// the runner look again.
func (r *Runner) dispatch(ctx context.Context) {
	for ctx.Err() == nil {
		r.mu.Lock()
		free := min(r.cfg.MaxRunning-len(r.runs), tasklife.MaxPerPage)
		if r.stopped || free <= 0 || !r.more {
			r.mu.Unlock()
			return
		}
		r.more = false
		r.claiming++
		r.mu.Unlock()

		tasks, full, err := r.claim(free)

		r.mu.Lock()
		r.claiming--
		if err != nil {
			r.retryClaimLocked()
		} else {
			r.claimFails = 0
		}
		for _, t := range tasks {
			r.startLocked(t)
		}
		r.applyEarlyLocked()
		if full {
			r.more = true // more may be waiting
		}
		r.mu.Unlock()
		if !full {
			return
		}
	}
}

// retryClaimLocked makes the runner claim again after a wait that grows
// with each failed claim: a task accepted with 202 is started once the
// store is back, not at the next poll.
func (r *Runner) retryClaimLocked() {
	if r.claimRetry != nil || r.stopped {
		return
	}
	r.claimRetry = time.AfterFunc(retryWait(r.claimFails), func() {
		r.mu.Lock()
		r.claimRetry = nil
		r.more = true
		r.mu.Unlock()
		r.poke()
	})
	r.claimFails++
}

// claim takes up to n PENDING tasks for this runner, and reports whether
// the store may hold more.
func (r *Runner) claim(n int) ([]*tasklife.Task, bool, error) {
	ctx := r.storeCtx()
	req := tasklife.ClaimRequest{Owner: r.cfg.Owner, Lease: r.cfg.Lease, Limit: n}
	if r.cfg.Accept != nil {
		guids, err := r.acceptedPending(ctx, n)
		if err != nil {
			r.logClaimError("PENDING tasks could not be listed; trying again", err)
			return nil, false, err
		}
		if len(guids) == 0 {
			return nil, false, nil
		}
		req.GUIDs = guids
	}
	tasks, err := r.svc.Claim(ctx, req)
	if err != nil {
		// A claim whose answer was lost may have taken tasks: the
		// heartbeat finds them among the leases this runner holds.
		r.logClaimError("PENDING tasks could not be claimed; trying again", err)
		return nil, false, err
	}
	if req.GUIDs != nil {
		// Others may have claimed some of those listed: more may wait.
		return tasks, len(req.GUIDs) == n, nil
	}
	return tasks, len(tasks) == n, nil
}

// logClaimError logs the first of a run of failed claims, and every tenth.
func (r *Runner) logClaimError(msg string, err error) {
	r.mu.Lock()
	fails := r.claimFails
	r.mu.Unlock()
	if fails%10 == 0 {
		r.log.Warn("runner: "+msg, "error", err, "tries", fails+1)
	}
}

// acceptedPending lists PENDING tasks, oldest first, and returns the guids
// of up to n of them that Accept accepts.
func (r *Runner) acceptedPending(ctx context.Context, n int) ([]string, error) {
	q := tasklife.ListQuery{States: []tasklife.State{tasklife.StatePending}, PerPage: tasklife.MaxPerPage}
	var guids []string
	for q.Page = 1; ; q.Page++ {
		page, err := r.svc.List(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, t := range page.Tasks {
			if r.cfg.Accept(t) {
				if guids = append(guids, t.GUID); len(guids) == n {
					return guids, nil
				}
			}
		}
		if len(page.Tasks) < q.PerPage {
			return guids, nil
		}
	}
}

// created makes the runner look for PENDING tasks: one was created in this
// process.
func (r *Runner) created(t *tasklife.Task) {
	if !r.accepts(t) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running || r.stopped {
		return
	}
	r.more = true
	r.poke()
}

// applyEarlyLocked acts on the changes heard, while claims were under way,
// of tasks the claims may have returned: a cancel that committed between a
// claim and the start of its work still reaches the work.
func (r *Runner) applyEarlyLocked() {
	if r.claiming > 0 {
		return // a claim under way may still return some of them
	}
	for guid, state := range r.early {
		if run := r.runs[guid]; run != nil {
			r.changedRunLocked(run, state)
		}
	}
	clear(r.early)
}
