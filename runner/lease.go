package runner

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/logname"
)

// defaultOwner names a runner uniquely: the host, the process, and random
// characters, so that no later runner, in this process or another, takes
// over its name.
func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "runner"
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails.
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// heartbeat renews the leases this runner holds every Lease/3 until done
// is closed.
func (r *Runner) heartbeat(done <-chan struct{}) {
	tick := time.NewTicker(r.cfg.Lease / 3)
	defer tick.Stop()
	for failed := 0; ; {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if err := r.renew(); err != nil {
			if failed == 0 {
				r.log.Warn("runner: leases could not be renewed; trying again", "error", err, "lease", r.cfg.Lease)
			}
			failed++
			continue
		}
		failed = 0
	}
}

// renew renews the leases of every task this runner holds, in one store
// call, and stops the work of those it no longer holds: their lease ran
// out and someone ended them. A task held with no work here (a claim whose
// answer was lost) is started now.
func (r *Runner) renew() error {
	r.mu.Lock()
	// Only runs claimed before the renewal starts: a claim committed after
	// it is not in its answer.
	runs := make([]*run, 0, len(r.runs))
	for _, run := range r.runs {
		runs = append(runs, run)
	}
	r.mu.Unlock()
	ctx := r.storeCtx()
	held, err := r.svc.Renew(ctx, r.cfg.Owner, r.cfg.Lease)
	if err != nil {
		return err
	}
	isHeld := make(map[string]bool, len(held))
	for _, guid := range held {
		isHeld[guid] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, run := range runs {
		// Work that outlived its grace is no loss: the runner recorded
		// its task itself.
		if !isHeld[run.task.GUID] && r.runs[run.task.GUID] == run && !run.returned && !run.finished.Load() && !run.overdue {
			r.log.Warn("task was taken from this runner (its lease ran out); stopping its work",
				"task_guid", run.task.GUID, "task_name", logname.Short(run.task.Name))
			r.changedRunLocked(run, tasklife.StateFailed)
		}
	}
	for _, guid := range held {
		_, recording := r.unrecorded[guid]
		if r.runs[guid] == nil && !recording && r.claiming == 0 && !r.stopped {
			// An adoption counts as a claim under way, from here: no
			// other renewal adopts while it reads the task, and the
			// changes heard meanwhile wait in early for its start.
			r.claiming++
			r.goLocked(func() { r.adopt(guid) })
		}
	}
	return nil
}

// adopt starts the work of a task this runner holds a lease on but runs no
// work for: claimed by a claim whose answer was lost. Its read may be stale
// by the time it acts (the task cancelled or ended since): as for a claim,
// the changes heard meanwhile wait in early, and reach the work before it
// starts.
func (r *Runner) adopt(guid string) {
	ctx := r.storeCtx()
	t, err := r.svc.Get(ctx, guid)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.claiming--
	defer r.applyEarlyLocked()
	if _, recording := r.unrecorded[guid]; err != nil || t.Owner != r.cfg.Owner || r.runs[guid] != nil || recording {
		return // the next renewal tries again
	}
	switch {
	case t.State == tasklife.StateRunning && !r.stopped:
		r.log.Info("task claimed by a claim whose answer was lost; starting it", "task_guid", guid)
		r.startLocked(t)
	case t.State == tasklife.StateCanceling:
		// Cancelled before its work started: it never runs.
		r.recordLocked(Outcome{GUID: guid, Name: t.Name, Event: tasklife.EventCanceled, Owner: t.Owner})
	}
}

// expire ends the tasks whose lease or deadline has run out, whoever's they
// are; the Service's observers, this runner's among them, hear of each.
func (r *Runner) expire() {
	req := tasklife.ExpireRequest{PendingExpiry: r.cfg.PendingExpiry, Limit: tasklife.MaxPerPage}
	if r.cfg.CancelDeadline > 0 {
		req.CancelDeadline = r.cfg.CancelDeadline
	}
	for {
		ctx := r.storeCtx()
		ended, err := r.svc.Expire(ctx, req)
		if err != nil {
			return // the next poll tries again
		}
		for _, t := range ended {
			r.log.Warn("task ended: its time ran out", "task_guid", t.GUID, "task_name", logname.Short(t.Name),
				"owner", t.Owner, "failure_reason", t.FailureReason)
		}
		if len(ended) < req.Limit {
			return
		}
	}
}
