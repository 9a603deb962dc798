// Package memstore is the in-memory tasklife.Store: the embedded default,
// safe for concurrent use, with nothing to set up and no goroutines.
//
//	svc := tasklife.New(memstore.New())
//	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "echo hi"})
//	if err == nil {
//		task, err = svc.Cancel(ctx, task.GUID) // PENDING -> CANCELING
//	}
//
// Tasks are spread over shards by GUID, each with its own lock, so
// transitions on different tasks rarely contend. A write locks one shard.
// Lists walk B-tree indexes (index.go, list.go) that writes only mark out
// of date, so that they cost a write no wait; a list brings them up to
// date, then read-locks every shard for as long as it walks to its page,
// and so sees one consistent moment.
package memstore

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/tasklife/tasklife"
)

const numShards = 64

// Store keeps tasks in memory. The zero value is not usable; call New.
type Store struct {
	seed   maphash.Seed
	now    func() time.Time
	shards [numShards]shard
	ix     *index // the list indexes; see index.go
	// creation hands out the creation order and created_at together, so
	// that the two agree (see Create).
	creation struct {
		mu      sync.Mutex
		order   uint64
		created int64
	}
	apps [numShards]appShard

	auditMu sync.RWMutex
	audit   []*tasklife.AuditEvent // in the order recorded; see audit.go

	// The indexes of lease.go. Each is changed while the record's shard
	// is locked, and locked after it.
	pendMu  sync.Mutex
	pending pendingQueue // PENDING records, oldest first
	actMu   sync.Mutex
	active  map[*record]string // RUNNING and CANCELING records, to their owner
	// Idempotency keys; see idempotency.go.
	keyMu   sync.Mutex
	keys    map[string]*keyRecord
	keyQ    []*keyRecord // in the order recorded, from keyHead on
	keyHead int
	// The ended records, for retention.go.
	endMu  sync.Mutex
	endedQ endedQueue
	// Apps; see apps.go.
	appMu  sync.RWMutex
	appsBy appIndex
}

type shard struct {
	mu    sync.RWMutex
	tasks map[string]*record
	dirty []*record // written since the list indexes caught up; see index.go
	// ndirty is len(dirty), for a catch-up to skip shards with none
	// without locking them.
	ndirty atomic.Int32
	_      [64 - 60]byte // one 64-byte cache line per shard: no false sharing
}

// touch marks r, just written with sh locked, for the list indexes to
// catch up with: at most once until they do.
func (sh *shard) touch(r *record) {
	if !r.dirty {
		r.dirty = true
		sh.dirty = append(sh.dirty, r)
		sh.ndirty.Store(int32(len(sh.dirty)))
	}
}

type appShard struct {
	mu  sync.Mutex
	seq map[string]int64 // last sequence id handed out, per app
	_   [64 - 16]byte
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store read the time from now instead of time.Now.
// Tests use it to control timestamps.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{seed: maphash.MakeSeed(), now: time.Now, active: make(map[*record]string)}
	for i := range s.shards {
		s.shards[i].tasks = make(map[string]*record)
		s.apps[i].seq = make(map[string]int64)
	}
	s.ix = newIndex(s.seed)
	for _, o := range opts {
		o(s)
	}
	return s
}

var _ tasklife.Store = (*Store)(nil)

func (s *Store) shardIndex(key string) int {
	return int(maphash.String(s.seed, key) % numShards)
}

// timestamp is the store's notion of now in unix microseconds (what
// PostgreSQL keeps, so that every store behaves alike), never before floor.
func (s *Store) timestamp(floor int64) int64 {
	return max(s.now().UnixMicro(), floor)
}

// later returns a timestamp after prev: a write always moves updated_at,
// even within one microsecond or when the clock steps back.
func (s *Store) later(prev int64) int64 { return s.timestamp(prev + 1) }

// Create implements tasklife.Store.
func (s *Store) Create(ctx context.Context, t *tasklife.Task, audit *tasklife.AuditEvent) (*tasklife.Task, error) {
	return s.create(ctx, t, audit, nil)
}

// create is Create that records key, when it is set, under the same locks.
func (s *Store) create(ctx context.Context, t *tasklife.Task, audit *tasklife.AuditEvent, key *tasklife.IdempotencyKey) (*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The sequence id and the insertion happen under the app's lock, so a
	// task with sequence id n is visible before n+1 is handed out: lists by
	// sequence id never see a gap.
	as := &s.apps[s.shardIndex(t.AppGUID)]
	as.mu.Lock()
	defer as.mu.Unlock()
	if key != nil {
		s.keyMu.Lock()
		defer s.keyMu.Unlock()
		if !s.keyFree(key) {
			return nil, tasklife.ErrIdempotencyKeyExists
		}
	}
	seq := as.seq[t.AppGUID] + 1
	as.seq[t.AppGUID] = seq

	for {
		guid := uuid.NewString()
		sh := &s.shards[s.shardIndex(guid)]
		sh.mu.Lock()
		if _, dup := sh.tasks[guid]; dup {
			sh.mu.Unlock()
			continue
		}
		// Creation order and created_at agree: a clock that steps back
		// repeats the last timestamp rather than go before it. Lists by
		// creation sort by the order alone.
		s.creation.mu.Lock()
		r := newRecord(t, guid, seq, s.timestamp(s.creation.created))
		s.creation.order++
		r.order, s.creation.created = s.creation.order, r.created
		s.creation.mu.Unlock()
		sh.tasks[r.guid()] = r // keyed by the blob's copy: no second string
		sh.touch(r)
		s.queue(r)
		out := r.task()
		s.record(audit, out)
		if key != nil {
			s.recordKey(key, out)
		}
		sh.mu.Unlock()
		return out, nil
	}
}

// Get implements tasklife.Store.
func (s *Store) Get(ctx context.Context, guid string) (*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := &s.shards[s.shardIndex(guid)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	r, ok := sh.tasks[guid]
	if !ok {
		return nil, tasklife.ErrNotFound
	}
	return r.task(), nil
}

// Transition implements tasklife.Store: the check and the write happen under
// the task's shard lock. The answer is built from a copy of the record's
// fields after the lock is let go, so that its allocation never holds up
// another write to the shard (a key's or an audit event's record needs the
// task under the lock, and builds it there).
func (s *Store) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	if err := ctx.Err(); err != nil {
		return tasklife.TransitionResult{}, err
	}
	sh := &s.shards[s.shardIndex(req.GUID)]
	sh.mu.Lock()
	r, ok := sh.tasks[req.GUID]
	if !ok {
		sh.mu.Unlock()
		return tasklife.TransitionResult{}, tasklife.ErrNotFound
	}
	from := r.currentState()
	fenced := req.Owner != "" && r.owner != req.Owner
	applies := !fenced && slices.Contains(req.From, from)
	if k := req.Idempotency; k != nil && (applies || (!fenced && from == req.To)) {
		defer sh.mu.Unlock()
		s.keyMu.Lock()
		defer s.keyMu.Unlock()
		if !s.keyFree(k) {
			return tasklife.TransitionResult{}, tasklife.ErrIdempotencyKeyExists
		}
		if !applies { // the no-op: its answer is the task as it is
			out := r.task()
			s.recordKey(k, out)
			return tasklife.TransitionResult{Task: out}, nil
		}
		s.move(sh, r, req.To, req.FailureReason)
		out := r.task()
		s.record(req.Audit, out)
		s.recordKey(k, out)
		return tasklife.TransitionResult{Task: out, From: from, Applied: true}, nil
	}
	if !applies {
		f := r.fields
		sh.mu.Unlock()
		return tasklife.TransitionResult{Task: f.task()}, nil
	}
	s.move(sh, r, req.To, req.FailureReason)
	if req.Audit != nil {
		defer sh.mu.Unlock()
		out := r.task()
		s.record(req.Audit, out)
		return tasklife.TransitionResult{Task: out, From: from, Applied: true}, nil
	}
	f := r.fields
	sh.mu.Unlock()
	return tasklife.TransitionResult{Task: f.task(), From: from, Applied: true}, nil
}

// move writes r's new state, with its shard sh locked, keeps the indexes
// of lease.go up to date, and marks r for the list indexes.
func (s *Store) move(sh *shard, r *record, to tasklife.State, reason string) {
	sh.touch(r)
	from := r.currentState()
	r.state = stateIndex(to)
	r.failure = ""
	if to == tasklife.StateFailed {
		r.failure = reason
	}
	r.updated = s.later(r.updated)
	r.version++
	if from == tasklife.StatePending {
		s.unqueue(r)
	}
	if to == tasklife.StateCanceling {
		r.canceling = r.updated
	}
	switch {
	case to.Terminal():
		r.lease = 0
		s.actMu.Lock()
		delete(s.active, r)
		s.actMu.Unlock()
		s.ended(r)
	case from == tasklife.StatePending:
		s.actMu.Lock()
		s.active[r] = r.owner
		s.actMu.Unlock()
	}
}

// selected reports whether labels satisfy every requirement.
func selected(reqs []tasklife.LabelRequirement, labels map[string]string) bool {
	for _, req := range reqs {
		if !req.Matches(labels) {
			return false
		}
	}
	return true
}
