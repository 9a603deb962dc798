package storetest_test

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/tasklife/tasklife"
)

// The naive store's claims, leases and deadlines: one mutex, a scan.

func (s *naiveStore) Claim(ctx context.Context, req tasklife.ClaimRequest) ([]*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var pending []*tasklife.Task
	for _, t := range s.tasks {
		if t.State == tasklife.StatePending && (len(req.GUIDs) == 0 || slices.Contains(req.GUIDs, t.GUID)) {
			pending = append(pending, t)
		}
	}
	slices.SortFunc(pending, func(a, b *tasklife.Task) int { return cmp.Compare(s.order[a.GUID], s.order[b.GUID]) })
	out := []*tasklife.Task{}
	for _, t := range pending[:min(len(pending), req.Limit)] {
		s.write(t, tasklife.StateRunning, "")
		t.Owner = req.Owner
		t.LeaseExpiresAt = t.UpdatedAt.Add(req.Lease)
		out = append(out, t.Clone())
	}
	return out, nil
}

func (s *naiveStore) Renew(ctx context.Context, owner string, lease time.Duration) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	var held []string
	for _, t := range s.tasks {
		if (t.State == tasklife.StateRunning || t.State == tasklife.StateCanceling) && t.Owner == owner && t.LeaseExpiresAt.After(now) {
			t.LeaseExpiresAt = now.Add(lease)
			held = append(held, t.GUID)
		}
	}
	return held, nil
}

func (s *naiveStore) Expire(ctx context.Context, req tasklife.ExpireRequest) ([]tasklife.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	var out []tasklife.Change
	for _, t := range s.tasks {
		if len(out) == req.Limit {
			break
		}
		from := t.State
		var ev tasklife.Event
		var reason string
		switch {
		case from == tasklife.StateCanceling && req.CancelDeadline > 0 && now.Sub(s.canceling[t.GUID]) > req.CancelDeadline:
			ev, reason = tasklife.EventCanceled, tasklife.ReasonCanceled
		case (from == tasklife.StateRunning || from == tasklife.StateCanceling) && !t.LeaseExpiresAt.IsZero() && !t.LeaseExpiresAt.After(now):
			ev, reason = tasklife.EventFail, tasklife.ReasonUnknownOutcome
		case from == tasklife.StatePending && req.PendingExpiry > 0 && now.Sub(t.CreatedAt) > req.PendingExpiry:
			ev, reason = tasklife.EventFail, tasklife.ReasonExpired
		default:
			continue
		}
		s.write(t, tasklife.StateFailed, reason)
		out = append(out, tasklife.Change{Task: t.Clone(), From: from, To: tasklife.StateFailed, Event: ev})
	}
	return out, nil
}

// write moves t to state to, as Transition does once its guard holds.
func (s *naiveStore) write(t *tasklife.Task, to tasklife.State, reason string) {
	prevUpdated := t.UpdatedAt
	t.State = to
	t.FailureReason = reason
	t.UpdatedAt = time.Now().UTC()
	if !t.UpdatedAt.After(prevUpdated) {
		t.UpdatedAt = prevUpdated.Add(time.Microsecond)
	}
	t.Version++
	if to == tasklife.StateCanceling {
		s.canceling[t.GUID] = t.UpdatedAt
	}
	if to.Terminal() {
		t.LeaseExpiresAt = time.Time{}
	}
}
