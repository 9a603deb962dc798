package runner

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/logname"
)

// Outcome is how a task ended, as the runner records it: Event is
// EventSucceed, EventFail (with Reason) or EventCanceled.
type Outcome struct {
	GUID   string         `json:"guid"`
	Name   string         `json:"name,omitempty"`
	Event  tasklife.Event `json:"event"`
	Reason string         `json:"reason,omitempty"`
	// Owner is the runner that claimed the task, whose write it is
	// (tasklife.Service.ApplyAs); empty for a task no runner claimed.
	Owner string `json:"owner,omitempty"`
}

// UnrecordedError is what Run returns when the store would not take some
// outcomes before StopTimeout. A host with somewhere durable to keep them
// passes them to the next runner's Config.Unrecorded, so that a task that
// really succeeded is never reported as failed.
type UnrecordedError struct {
	Outcomes []Outcome
}

func (e *UnrecordedError) Error() string {
	guids := make([]string, len(e.Outcomes))
	for i, o := range e.Outcomes {
		guids[i] = o.GUID
	}
	return fmt.Sprintf("runner: %d task outcomes could not be recorded: %s", len(e.Outcomes), strings.Join(guids, ", "))
}

// Backoff between tries of a store call that failed: the first wait and the
// longest. An outage of PostgreSQL's restart length (seconds) is ridden out
// with a try every retryMax at worst.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

// recordLocked records o in a goroutine of its own, retrying until the
// store takes it. A task has one outcome: a second for the same task is
// dropped.
func (r *Runner) recordLocked(o Outcome) {
	if r.claimLocked(o) {
		r.goLocked(func() { r.retry(o, 0) })
	}
}

// claimLocked marks o as the task's outcome, on its way to the store, and
// reports false if the task has one already.
func (r *Runner) claimLocked(o Outcome) bool {
	if _, ok := r.unrecorded[o.GUID]; ok {
		return false
	}
	r.unrecorded[o.GUID] = o
	return true
}

// recordHere makes a claimed outcome's first try in the calling goroutine,
// the one whose work just returned, and leaves the retries, if any, to a
// goroutine of their own: most outcomes are stored at the first try, and a
// goroutine a task is what a runner's throughput is made of.
func (r *Runner) recordHere(o Outcome) {
	log := logname.NewTask(r.log, o.GUID, o.Name)
	if r.attempt(&o, 0, log) == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.goLocked(func() { r.retry(o, 1) })
}

// retry stores o from its try number try on, waiting between tries, until
// it is stored, refused for good, or the runner gives up at the end of a
// stop.
func (r *Runner) retry(o Outcome, try int) {
	log := logname.NewTask(r.log, o.GUID, o.Name)
	var err error
	for ; ; try++ {
		if try > 0 && !r.pause(retryWait(try-1)) {
			log.Error("task outcome could not be recorded before the runner stopped", slog.String("event", string(o.Event)), slog.Any("error", err))
			return // stays in r.unrecorded for UnrecordedError
		}
		if err = r.attempt(&o, try, log); err == nil {
			return
		}
	}
}

// attempt makes try number try at storing o. It returns nil when o needs
// no more tries: it is stored, or the task was ended elsewhere.
func (r *Runner) attempt(o *Outcome, try int, log *logname.Task) error {
	for {
		t, err := r.apply(*o)
		var te *tasklife.TransitionError
		switch {
		case err == nil:
			log.Info("task ended", slog.String("state", string(t.State)), slog.String("failure_reason", t.FailureReason), slog.String("event", string(o.Event)))
			r.recorded(o.GUID)
			return nil
		case errors.As(err, &te) || errors.Is(err, tasklife.ErrNotFound) || errors.Is(err, tasklife.ErrNotOwner):
			// Someone else ended (or deleted) the task, or it was taken
			// from this runner: its state stands.
			log.Warn("task outcome refused: the task was ended elsewhere", slog.String("event", string(o.Event)), slog.Any("error", err))
			r.recorded(o.GUID)
			return nil
		case errors.Is(err, tasklife.ErrInvalidInput) && o.Reason != reasonUnstorable:
			// A reason no store can keep (reasonOf cleans the usual
			// ones): the task still ends, with a reason that says so.
			log.Error("task's failure reason could not be stored; recording it failed without it", slog.Any("error", err))
			o.Reason = reasonUnstorable
			continue
		}
		if try == 0 || try%10 == 0 {
			log.Warn("task outcome could not be recorded yet; trying again", slog.String("event", string(o.Event)), slog.Any("error", err), slog.Int("tries", try+1))
		}
		return err
	}
}

// apply makes the store call(s) for o. A canceled outcome whose cancel is
// not yet committed (the runner's own cancel at a stop that found the
// store down, or a PENDING task cancelled at a stop) commits it first.
// An outcome of no owner's is for a task no work ran for: if a runner has
// claimed the task since, its work runs, and its outcome is its owner's
// to record, after the work stops; the cancel, if made, reaches it.
func (r *Runner) apply(o Outcome) (*tasklife.Task, error) {
	ctx := r.storeCtx()
	step := func() (*tasklife.Task, error) {
		if o.Owner != "" {
			return r.svc.ApplyAs(ctx, o.Owner, o.GUID, o.Event, o.Reason)
		}
		return r.svc.Apply(ctx, o.GUID, o.Event, o.Reason)
	}
	t, err := step()
	var te *tasklife.TransitionError
	if o.Event == tasklife.EventCanceled && errors.As(err, &te) && !te.State.Terminal() {
		if o.Owner == "" && te.State != tasklife.StatePending {
			return nil, err // claimed since: its owner's
		}
		if t, err = r.svc.Cancel(ctx, o.GUID); err == nil {
			if o.Owner == "" && t.Owner != "" {
				return nil, fmt.Errorf("%w: %s was claimed by %q", tasklife.ErrNotOwner, o.GUID, t.Owner)
			}
			t, err = step()
		}
	}
	return t, err
}

// recorded forgets an outcome that needs no more tries.
func (r *Runner) recorded(guid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.unrecorded, guid)
}

func retryWait(try int) time.Duration {
	return min(retryMin<<min(try, 10), retryMax)
}
