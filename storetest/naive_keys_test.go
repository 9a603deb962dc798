package storetest_test

import (
	"context"
	"time"

	"github.com/tasklife/tasklife"
)

// faultKeyCheckThenAct checks that a key is free, lets others run, then
// records it: two requests with one key can both act.
const faultKeyCheckThenAct = "key-check-then-act"

// naiveKey is the naive store's idempotency record.
type naiveKey struct {
	rec  tasklife.IdempotencyRecord
	seen int // the order recorded
}

func naiveKeyID(caller, key string) string { return caller + "\x00" + key }

// keyTaken reports whether k is recorded; s.mu is held. Under the fault
// it lets other callers in between the check and what follows.
func (s *naiveStore) keyTaken(k *tasklife.IdempotencyKey) bool {
	_, taken := s.keys[naiveKeyID(k.Caller, k.Key)]
	if s.fault == faultKeyCheckThenAct {
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
		s.mu.Lock()
	}
	return taken
}

// recordKey records k with t; s.mu is held.
func (s *naiveStore) recordKey(k *tasklife.IdempotencyKey, t *tasklife.Task) {
	if k == nil {
		return
	}
	c := t.Clone()
	c.Owner, c.LeaseExpiresAt = "", time.Time{}
	if s.keys == nil {
		s.keys = map[string]*naiveKey{}
	}
	s.keySeq++
	s.keys[naiveKeyID(k.Caller, k.Key)] = &naiveKey{
		rec:  tasklife.IdempotencyRecord{IdempotencyKey: *k, Task: c, CreatedAt: time.Now().UTC()},
		seen: s.keySeq,
	}
}

func (s *naiveStore) CreateWithKey(ctx context.Context, t *tasklife.Task, audit *tasklife.AuditEvent, key *tasklife.IdempotencyKey) (*tasklife.Task, error) {
	return s.create(ctx, t, audit, key)
}

func (s *naiveStore) IdempotencyRecord(ctx context.Context, caller, key string, notBefore time.Time) (*tasklife.IdempotencyRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[naiveKeyID(caller, key)]
	if !ok {
		return nil, tasklife.ErrNotFound
	}
	if k.rec.CreatedAt.Before(notBefore) {
		delete(s.keys, naiveKeyID(caller, key))
		return nil, tasklife.ErrNotFound
	}
	rec := k.rec
	rec.Task = rec.Task.Clone()
	return &rec, nil
}

func (s *naiveStore) DeleteIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	deleted := 0
	for deleted < limit {
		var (
			oldest string
			first  *naiveKey
		)
		for id, k := range s.keys {
			if k.rec.CreatedAt.Before(before) && (first == nil || k.seen < first.seen) {
				oldest, first = id, k
			}
		}
		if first == nil {
			break
		}
		delete(s.keys, oldest)
		deleted++
	}
	return deleted, nil
}
