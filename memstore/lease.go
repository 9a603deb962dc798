package memstore

import (
	"container/heap"
	"context"
	"time"

	"github.com/tasklife/tasklife"
)

// Claims, leases and deadlines. Two indexes keep them cheap: the PENDING
// records in a heap by creation order, which Claim takes from the front of
// and the pending expiry looks at the front of; and the set of RUNNING and
// CANCELING records, which is as large as the work under way, for Renew and
// the lease and cancel deadlines. Both are changed while the record's shard
// is locked, so they never disagree with a state for longer than a step.

// pendingQueue is a min-heap of PENDING records by creation order. Each
// entry holds its record's order: a claim's pop compares two entries at
// each level it goes down, and loading the record for each comparison was
// a cache miss apiece in a long queue.
type pendingQueue []pendingEntry

type pendingEntry struct {
	order uint64
	r     *record
}

func (q pendingQueue) Len() int           { return len(q) }
func (q pendingQueue) Less(i, j int) bool { return q[i].order < q[j].order }
func (q pendingQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].r.heapIndex, q[j].r.heapIndex = i, j
}
func (q *pendingQueue) Push(x any) {
	r := x.(*record)
	r.heapIndex = len(*q)
	*q = append(*q, pendingEntry{order: r.order, r: r})
}
func (q *pendingQueue) Pop() any {
	old := *q
	r := old[len(old)-1].r
	old[len(old)-1] = pendingEntry{}
	*q = old[:len(old)-1]
	r.heapIndex = -1
	return r
}

// queue adds a new PENDING record; its shard is locked.
func (s *Store) queue(r *record) {
	s.pendMu.Lock()
	heap.Push(&s.pending, r)
	s.pendMu.Unlock()
}

// unqueue takes r out of the queue, if a claim has not already; its shard
// is locked.
func (s *Store) unqueue(r *record) {
	s.pendMu.Lock()
	if r.heapIndex >= 0 {
		heap.Remove(&s.pending, r.heapIndex)
	}
	s.pendMu.Unlock()
}

// Claim implements tasklife.Store: oldest first from the queue, or among
// req.GUIDs. A record taken from the queue is claimed by this call alone;
// one that stopped being PENDING before its shard was locked is skipped.
func (s *Store) Claim(ctx context.Context, req tasklife.ClaimRequest) ([]*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var picked []*record
	if len(req.GUIDs) > 0 {
		for _, guid := range req.GUIDs {
			if len(picked) == req.Limit {
				break
			}
			sh := &s.shards[s.shardIndex(guid)]
			sh.mu.RLock()
			r := sh.tasks[guid]
			sh.mu.RUnlock()
			if r != nil {
				picked = append(picked, r)
			}
		}
	} else {
		s.pendMu.Lock()
		for len(picked) < req.Limit && s.pending.Len() > 0 {
			picked = append(picked, heap.Pop(&s.pending).(*record))
		}
		s.pendMu.Unlock()
	}
	lease := req.Lease.Microseconds()
	claimed := make([]*tasklife.Task, 0, len(picked))
	for _, r := range picked {
		sh := &s.shards[s.shardIndex(r.guid())]
		sh.mu.Lock()
		if r.currentState() == tasklife.StatePending {
			r.owner = req.Owner
			s.move(sh, r, tasklife.StateRunning, "")
			r.lease = r.updated + lease
			claimed = append(claimed, r.task())
		}
		sh.mu.Unlock()
	}
	return claimed, nil
}

// Renew implements tasklife.Store.
func (s *Store) Renew(ctx context.Context, owner string, lease time.Duration) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var held []string
	for _, r := range s.activeOf(owner) {
		sh := &s.shards[s.shardIndex(r.guid())]
		sh.mu.Lock()
		now := s.timestamp(0)
		if st := r.currentState(); (st == tasklife.StateRunning || st == tasklife.StateCanceling) &&
			r.owner == owner && r.lease > now {
			r.lease = now + lease.Microseconds()
			held = append(held, r.guid())
		}
		sh.mu.Unlock()
	}
	return held, nil
}

// activeOf returns the RUNNING and CANCELING records of owner, or all of
// them when owner is empty.
func (s *Store) activeOf(owner string) []*record {
	s.actMu.Lock()
	defer s.actMu.Unlock()
	var rs []*record
	for r, o := range s.active {
		if owner == "" || o == owner {
			rs = append(rs, r)
		}
	}
	return rs
}

// Expire implements tasklife.Store.
func (s *Store) Expire(ctx context.Context, req tasklife.ExpireRequest) ([]tasklife.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var changes []tasklife.Change
	for _, r := range s.activeOf("") {
		if len(changes) == req.Limit {
			return changes, nil
		}
		if c, ok := s.expire(r, req); ok {
			changes = append(changes, c)
		}
	}
	if req.PendingExpiry <= 0 {
		return changes, nil
	}
	// The oldest PENDING records are at the front of the queue: those
	// created before the cutoff are expired, in order, until one is not.
	cutoff := s.timestamp(0) - req.PendingExpiry.Microseconds()
	for len(changes) < req.Limit {
		s.pendMu.Lock()
		var r *record
		if s.pending.Len() > 0 && s.pending[0].r.created < cutoff {
			r = s.pending[0].r
		}
		s.pendMu.Unlock()
		if r == nil {
			break
		}
		c, ok := s.expire(r, req)
		if !ok {
			break // a claim or a cancel took it first: the next call looks again
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// expire ends r if its time has run out, as one guarded step under its
// shard's lock.
func (s *Store) expire(r *record, req tasklife.ExpireRequest) (tasklife.Change, bool) {
	sh := &s.shards[s.shardIndex(r.guid())]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.timestamp(0)
	from := r.currentState()
	var ev tasklife.Event
	var reason string
	switch {
	case from == tasklife.StateCanceling && req.CancelDeadline > 0 && r.canceling < now-req.CancelDeadline.Microseconds():
		ev, reason = tasklife.EventCanceled, tasklife.ReasonCanceled
	case (from == tasklife.StateRunning || from == tasklife.StateCanceling) && r.lease != 0 && r.lease <= now:
		ev, reason = tasklife.EventFail, tasklife.ReasonUnknownOutcome
	case from == tasklife.StatePending && req.PendingExpiry > 0 && r.created < now-req.PendingExpiry.Microseconds():
		ev, reason = tasklife.EventFail, tasklife.ReasonExpired
	default:
		return tasklife.Change{}, false
	}
	s.move(sh, r, tasklife.StateFailed, reason)
	return tasklife.Change{Task: r.task(), From: from, To: tasklife.StateFailed, Event: ev}, true
}
