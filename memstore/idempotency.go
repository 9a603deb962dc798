package memstore

import (
	"context"
	"time"

	"github.com/tasklife/tasklife"
)

// Idempotency keys live in one map under keyMu, which is locked after a
// task's shard (and its app's lock, for a create): the key and the change
// it answers are written under the same locks, so no reader sees one
// without the other. keyQ holds the records in the order they were
// recorded, for DeleteIdempotencyKeys.

// keyRecord is one recorded key.
type keyRecord struct {
	id          string // caller, NUL, key
	fingerprint string
	task        *tasklife.Task
	created     int64 // unix microseconds
}

func keyID(caller, key string) string { return caller + "\x00" + key }

// keyFree reports whether k may be recorded; keyMu is held.
func (s *Store) keyFree(k *tasklife.IdempotencyKey) bool {
	_, taken := s.keys[keyID(k.Caller, k.Key)]
	return !taken
}

// recordKey records k for t; keyMu is held and keyFree(k) said yes.
func (s *Store) recordKey(k *tasklife.IdempotencyKey, t *tasklife.Task) {
	r := &keyRecord{id: keyID(k.Caller, k.Key), fingerprint: k.Fingerprint, task: t.Clone(), created: s.timestamp(0)}
	r.task.Owner, r.task.LeaseExpiresAt = "", time.Time{}
	if s.keys == nil {
		s.keys = make(map[string]*keyRecord)
	}
	s.keys[r.id] = r
	s.keyQ = append(s.keyQ, r)
}

// CreateWithKey implements tasklife.Store.
func (s *Store) CreateWithKey(ctx context.Context, t *tasklife.Task, audit *tasklife.AuditEvent, key *tasklife.IdempotencyKey) (*tasklife.Task, error) {
	return s.create(ctx, t, audit, key)
}

// IdempotencyRecord implements tasklife.Store.
func (s *Store) IdempotencyRecord(ctx context.Context, caller, key string, notBefore time.Time) (*tasklife.IdempotencyRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	id := keyID(caller, key)
	r, ok := s.keys[id]
	if !ok {
		return nil, tasklife.ErrNotFound
	}
	if r.created < notBefore.UnixMicro() {
		delete(s.keys, id) // its queue entry goes when the queue reaches it
		return nil, tasklife.ErrNotFound
	}
	return &tasklife.IdempotencyRecord{
		IdempotencyKey: tasklife.IdempotencyKey{Caller: caller, Key: key, Fingerprint: r.fingerprint},
		Task:           r.task.Clone(),
		CreatedAt:      time.UnixMicro(r.created).UTC(),
	}, nil
}

// DeleteIdempotencyKeys implements tasklife.Store: from the front of the
// queue, which is in the order keys were recorded.
func (s *Store) DeleteIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cutoff := before.UnixMicro()
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	deleted := 0
	for ; s.keyHead < len(s.keyQ) && deleted < limit && s.keyQ[s.keyHead].created < cutoff; s.keyHead++ {
		r := s.keyQ[s.keyHead]
		s.keyQ[s.keyHead] = nil
		if s.keys[r.id] == r { // not already removed by a lookup, nor recorded again
			delete(s.keys, r.id)
			deleted++
		}
	}
	if s.keyHead >= 1024 && s.keyHead*2 >= len(s.keyQ) { // let go of the consumed half
		s.keyQ = append([]*keyRecord(nil), s.keyQ[s.keyHead:]...)
		s.keyHead = 0
	}
	return deleted, nil
}
