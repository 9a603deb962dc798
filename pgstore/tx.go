package pgstore

import (
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/tasklife/tasklife"
)

// WithTx returns a Store whose operations run in tx, the host's own
// transaction, so that a task is created or canceled atomically with the
// host's other writes (like river's JobCancelTx).
//
// The tasklife.Service calls its observers as soon as Store.Transition
// returns, which for a TxStore is before the host commits. So: build the
// Service for the transaction without observers, and after tx.Commit
// succeeds, hand TxStore.Changes to your main Service's Deliver, which calls
// its observers; after a rollback, drop them. Notifications (see Listen) need nothing from the host: PostgreSQL
// delivers them at commit and discards them on rollback.
//
//	tx, err := pool.Begin(ctx)
//	txStore := store.WithTx(tx)
//	task, err := tasklife.New(txStore).Cancel(ctx, guid)
//	// ... the host's own writes in tx ...
//	err = tx.Commit(ctx)
//	svc.Deliver(ctx, txStore.Changes()...) // svc: the host's Service with its observers
//
// Inside the transaction, an applied transition keeps its task's row locked,
// and a create keeps its app's sequence counter locked (other creates for
// that app wait), until the transaction ends.
func (s *Store) WithTx(tx pgx.Tx) *TxStore {
	ts := &TxStore{}
	ts.ops = ops{db: tx, sql: s.sql, applied: ts.record}
	return ts
}

// TxStore is a tasklife.Store bound to a host's transaction; see
// Store.WithTx. Like the pgx.Tx it runs on, it is for one goroutine at a
// time.
type TxStore struct {
	ops
	mu      sync.Mutex
	changes []tasklife.Change
}

var _ tasklife.Store = (*TxStore)(nil)

func (s *TxStore) record(c tasklife.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes = append(s.changes, c)
}

// Changes returns the creates and transitions made in the transaction so far, in
// order, as observers would have seen them. They are committed only once the
// host's transaction commits.
func (s *TxStore) Changes() []tasklife.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]tasklife.Change, len(s.changes))
	for i, c := range s.changes {
		c.Task = c.Task.Clone()
		out[i] = c
	}
	return out
}
