package memstore

import (
	"context"
	"time"
)

// Retention. The records that ended wait in a queue in the order they
// ended, so that DeleteEnded costs what it deletes, not the store. A
// record's UpdatedAt is when it ended unless a metadata patch moved it
// later: such a record goes to the back of the queue when it is reached
// before it is due. A record that ended at or after the cutoff has an
// UpdatedAt at or after it too, so the first of those ends the search.

// endedQueue holds ended records, in the order they ended; guarded by
// Store.endMu.
type endedQueue struct {
	recs []*record
	head int
}

func (q *endedQueue) push(r *record) { q.recs = append(q.recs, r) }

func (q *endedQueue) len() int { return len(q.recs) - q.head }

func (q *endedQueue) front() *record { return q.recs[q.head] }

func (q *endedQueue) pop() {
	q.recs[q.head] = nil
	q.head++
	if q.head >= 1024 && q.head*2 >= len(q.recs) { // let go of the consumed half
		q.recs = append([]*record(nil), q.recs[q.head:]...)
		q.head = 0
	}
}

// ended queues r, which has just ended; its shard is locked.
func (s *Store) ended(r *record) {
	r.endedAt = r.updated
	s.endMu.Lock()
	s.endedQ.push(r)
	s.endMu.Unlock()
}

// DeleteEnded implements tasklife.Store: up to limit records, from the
// front of the queue, each deleted under its shard's lock.
func (s *Store) DeleteEnded(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cutoff := before.UnixMicro()
	deleted := 0
	for requeued := 0; deleted < limit; {
		s.endMu.Lock()
		if s.endedQ.len() == 0 || requeued > s.endedQ.len() {
			s.endMu.Unlock()
			break
		}
		r := s.endedQ.front()
		s.endMu.Unlock()
		if r.endedAt >= cutoff { // endedAt never changes once set
			break
		}
		sh := &s.shards[s.shardIndex(r.guid())]
		sh.mu.Lock()
		present := sh.tasks[r.guid()] == r // a concurrent call may have deleted it
		due := present && r.updated < cutoff
		if due {
			delete(sh.tasks, r.guid())
			r.gone = true
			sh.touch(r)
		}
		sh.mu.Unlock()
		s.endMu.Lock()
		if s.endedQ.len() > 0 && s.endedQ.front() == r { // calls may overlap: one pops
			s.endedQ.pop()
			if present && !due {
				s.endedQ.push(r) // patched since it ended: it is due later
				requeued++
			}
		}
		s.endMu.Unlock()
		if due {
			deleted++
		}
	}
	if deleted > 0 { // the list indexes let go of the deleted records
		s.catchUpAll()
	}
	return deleted, nil
}
