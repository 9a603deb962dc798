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
// transitions on different tasks rarely contend. A transition locks one
// shard; a list locks them all (for reading) and so sees one consistent
// moment.
package memstore

import (
	"cmp"
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
	order  atomic.Uint64 // creation order, for ties in list ordering
	shards [numShards]shard
	apps   [numShards]appShard

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
}

type shard struct {
	mu    sync.RWMutex
	tasks map[string]*record
	_     [64 - 32]byte // one 64-byte cache line per shard: no false sharing
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
		r := newRecord(t, guid, seq, s.timestamp(0))
		r.order = s.order.Add(1)
		sh.tasks[r.guid()] = r // keyed by the blob's copy: no second string
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
// the task's shard lock.
func (s *Store) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	if err := ctx.Err(); err != nil {
		return tasklife.TransitionResult{}, err
	}
	sh := &s.shards[s.shardIndex(req.GUID)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := sh.tasks[req.GUID]
	if !ok {
		return tasklife.TransitionResult{}, tasklife.ErrNotFound
	}
	from := r.currentState()
	fenced := req.Owner != "" && r.owner != req.Owner
	applies := !fenced && slices.Contains(req.From, from)
	if k := req.Idempotency; k != nil && (applies || (!fenced && from == req.To)) {
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
	}
	if !applies {
		return tasklife.TransitionResult{Task: r.task()}, nil
	}
	s.move(r, req.To, req.FailureReason)
	out := r.task()
	s.record(req.Audit, out)
	if req.Idempotency != nil {
		s.recordKey(req.Idempotency, out)
	}
	return tasklife.TransitionResult{Task: out, From: from, Applied: true}, nil
}

// move writes r's new state, with its shard locked, and keeps the indexes
// of lease.go up to date.
func (s *Store) move(r *record, to tasklife.State, reason string) {
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

// List implements tasklife.Store. It read-locks every shard for the length
// of the call, so the page and the total describe one moment.
func (s *Store) List(ctx context.Context, q tasklife.ListQuery) (*tasklife.Page, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range s.shards {
		s.shards[i].mu.RLock()
	}
	defer func() {
		for i := range s.shards {
			s.shards[i].mu.RUnlock()
		}
	}()

	var hits []*record
	if len(q.GUIDs) > 0 {
		seen := make(map[string]bool, len(q.GUIDs))
		for _, g := range q.GUIDs {
			if seen[g] {
				continue
			}
			seen[g] = true
			if r, ok := s.shards[s.shardIndex(g)].tasks[g]; ok && matches(r, q) {
				hits = append(hits, r)
			}
		}
	} else {
		for i := range s.shards {
			for _, r := range s.shards[i].tasks {
				if matches(r, q) {
					hits = append(hits, r)
				}
			}
		}
	}

	key := func(r *record) int64 { return r.created }
	if q.OrderBy == tasklife.OrderByUpdatedAt {
		key = func(r *record) int64 { return r.updated }
	}
	slices.SortFunc(hits, func(a, b *record) int {
		c := cmp.Compare(key(a), key(b))
		if c == 0 {
			c = cmp.Compare(a.order, b.order)
		}
		if q.Descending {
			return -c
		}
		return c
	})

	// q passed tasklife.ListQuery.Normalize: Page and PerPage are at least 1.
	page := &tasklife.Page{TotalResults: len(hits), Tasks: []*tasklife.Task{}}
	if skip := q.Page - 1; skip <= len(hits)/q.PerPage { // no overflow for huge pages
		start := skip * q.PerPage
		for _, r := range hits[min(start, len(hits)):min(start+q.PerPage, len(hits))] {
			page.Tasks = append(page.Tasks, r.task())
		}
	}
	return page, nil
}

// matches is the filter every list path applies to a record. The
// cheapest tests come first; a zero filter costs one comparison.
func matches(r *record, q tasklife.ListQuery) bool {
	return (len(q.Names) == 0 || slices.Contains(q.Names, r.text(textName))) &&
		(len(q.States) == 0 || slices.Contains(q.States, r.currentState())) &&
		(len(q.AppGUIDs) == 0 || slices.Contains(q.AppGUIDs, r.text(textApp))) &&
		(len(q.SequenceIDs) == 0 || slices.Contains(q.SequenceIDs, r.seq)) &&
		(q.CreatedAts.IsZero() || q.CreatedAts.Match(time.UnixMicro(r.created))) &&
		(q.UpdatedAts.IsZero() || q.UpdatedAts.Match(time.UnixMicro(r.updated))) &&
		selected(q.LabelSelector, r.labels)
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
