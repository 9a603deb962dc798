package tasklife

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Claims, leases and deadlines: how every task ends whoever dies. A runner
// claims PENDING tasks (Claim), which makes it their Owner with a lease it
// renews while it runs them (Renew). Any process may end, with Expire, the
// tasks whose lease has run out (their owner died or hangs), a CANCELING
// task its owner did not end in time, and a task PENDING for too long. The
// owner's own writes are fenced (ApplyAs): once a task was taken from it,
// they are refused.

// ReasonTimedOut is the failure reason of a task whose work ran longer than
// its maximum run time (see the runner's MaxRunTime). Cloud Foundry has no
// such limit, and so no reason for it.
const ReasonTimedOut = "Task exceeded its maximum run time"

// ErrNotOwner: a fenced step (ApplyAs) was refused because the task is not,
// or no longer, held by the caller. Nothing was written.
var ErrNotOwner = errors.New("tasklife: the task is not held by this owner")

// ClaimRequest asks Store.Claim for PENDING tasks to run.
type ClaimRequest struct {
	// Owner names who claims: the runner instance, unique among the
	// processes that share the store. Required.
	Owner string
	// Lease is how long the claim holds without a renewal. Required.
	Lease time.Duration
	// Limit bounds how many tasks one claim takes: 1 to MaxPerPage.
	Limit int
	// GUIDs, when set, restricts the claim to these tasks: a host's own
	// choice of what it runs (affinity). Without it, the oldest are taken.
	GUIDs []string
}

// ExpireRequest says how long a task may stay where no lease covers it; see
// Store.Expire. A zero duration sets no limit.
type ExpireRequest struct {
	// CancelDeadline: how long a task may stay CANCELING.
	CancelDeadline time.Duration
	// PendingExpiry: how long a task may stay PENDING.
	PendingExpiry time.Duration
	// Limit bounds how many tasks one call ends: 1 to MaxPerPage.
	Limit int
}

func checkOwner(owner string) error {
	if owner == "" {
		return &InputError{Field: "owner", Reason: "must not be empty"}
	}
	return checkText("owner", owner)
}

func checkLimit(limit int) error {
	if limit < 1 || limit > MaxPerPage {
		return &InputError{Field: "limit", Reason: fmt.Sprintf("must be between 1 and %d", MaxPerPage)}
	}
	return nil
}

// Claim takes PENDING tasks to run for req.Owner (see Store.Claim): they
// are RUNNING when it returns, and observers hear of each as EventStart.
func (s *Service) Claim(ctx context.Context, req ClaimRequest) ([]*Task, error) {
	if err := checkOwner(req.Owner); err != nil {
		return nil, err
	}
	if req.Lease <= 0 {
		return nil, &InputError{Field: "lease", Reason: "must be positive"}
	}
	if err := checkLimit(req.Limit); err != nil {
		return nil, err
	}
	tasks, err := s.store.Claim(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		s.notify(ctx, Change{Task: t, From: StatePending, To: StateRunning, Event: EventStart})
	}
	return tasks, nil
}

// Renew extends the leases of the tasks owner holds and returns their
// GUIDs: a task the owner runs that is missing was taken from it (its lease
// ran out and it was ended), and its work should stop.
func (s *Service) Renew(ctx context.Context, owner string, lease time.Duration) ([]string, error) {
	if err := checkOwner(owner); err != nil {
		return nil, err
	}
	if lease <= 0 {
		return nil, &InputError{Field: "lease", Reason: "must be positive"}
	}
	return s.store.Renew(ctx, owner, lease)
}

// Expire ends tasks whose time has run out (see Store.Expire) and returns
// them as ended. Observers hear of each.
func (s *Service) Expire(ctx context.Context, req ExpireRequest) ([]*Task, error) {
	if req.CancelDeadline < 0 || req.PendingExpiry < 0 {
		return nil, &InputError{Field: "deadline", Reason: "must not be negative"}
	}
	if err := checkLimit(req.Limit); err != nil {
		return nil, err
	}
	changes, err := s.store.Expire(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]*Task, len(changes))
	for i, c := range changes {
		s.notify(ctx, c)
		out[i] = c.Task
	}
	return out, nil
}

// ApplyAs is Apply fenced by ownership: the step is taken only while owner
// holds the task (it claimed it and the task was not taken from it). When
// it does not, ApplyAs returns an error matching ErrNotOwner and writes
// nothing; a task that has ended meanwhile gives the *TransitionError that
// Apply would.
func (s *Service) ApplyAs(ctx context.Context, owner, guid string, ev Event, reason string) (*Task, error) {
	if err := checkOwner(owner); err != nil {
		return nil, err
	}
	switch ev {
	case EventFail:
		if reason == "" {
			return nil, &InputError{Field: "failure_reason", Reason: "must not be empty"}
		}
		if err := checkText("failure_reason", reason); err != nil {
			return nil, err
		}
		reason = TruncateFailureReason(reason)
	case EventCanceled:
		reason = ReasonCanceled
	default:
		if _, ok := ruleFor(ev); !ok {
			return nil, &InputError{Field: "event", Reason: fmt.Sprintf("unknown event %q", ev)}
		}
		reason = ""
	}
	return s.step(ctx, guid, ev, reason, owner)
}
