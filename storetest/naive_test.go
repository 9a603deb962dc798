package storetest_test

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tasklife/tasklife"
)

// naiveStore is the simplest correct Store a host might write: one mutex and
// a map. Its fault switches break it in the ways the suite must catch.
type naiveStore struct {
	mu    sync.Mutex
	tasks map[string]*tasklife.Task
	order map[string]int
	seq   map[string]int64
	// canceling is when each task entered CANCELING.
	canceling map[string]time.Time
	fault     string
	audit     []*tasklife.AuditEvent
	keys      map[string]*naiveKey // see naive_keys_test.go
	keySeq    int
}

const (
	faultNone             = ""
	faultFailedToCancel   = "failed-to-canceling"   // lets cancel leave FAILED
	faultNoOpBumpsUpdated = "noop-bumps-updated-at" // writes updated_at when the guard fails
	faultDuplicateSeq     = "duplicate-sequence-id" // check-then-act on the per-app counter
)

func newNaiveStore(fault string) *naiveStore {
	return &naiveStore{tasks: map[string]*tasklife.Task{}, order: map[string]int{}, seq: map[string]int64{}, canceling: map[string]time.Time{}, fault: fault}
}

func (s *naiveStore) Create(ctx context.Context, t *tasklife.Task, audit *tasklife.AuditEvent) (*tasklife.Task, error) {
	return s.create(ctx, t, audit, nil)
}

func (s *naiveStore) create(ctx context.Context, t *tasklife.Task, audit *tasklife.AuditEvent, key *tasklife.IdempotencyKey) (*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if key != nil && s.keyTaken(key) {
		s.mu.Unlock()
		return nil, tasklife.ErrIdempotencyKeyExists
	}
	next := s.seq[t.AppGUID] + 1
	if s.fault == faultDuplicateSeq {
		// Read, let others run, then write: two creates can read the same value.
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
		s.mu.Lock()
	}
	s.seq[t.AppGUID] = next
	defer s.mu.Unlock()
	c := t.Clone()
	c.GUID = uuid.NewString()
	c.SequenceID = next
	c.State = tasklife.StatePending
	c.FailureReason = ""
	c.Version = 1
	c.CreatedAt = time.Now().UTC()
	c.UpdatedAt = c.CreatedAt
	s.tasks[c.GUID] = c
	s.order[c.GUID] = len(s.order)
	s.record(audit, c)
	s.recordKey(key, c)
	return c.Clone(), nil
}

func (s *naiveStore) Get(ctx context.Context, guid string) (*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[guid]
	if !ok {
		return nil, tasklife.ErrNotFound
	}
	return t.Clone(), nil
}

func (s *naiveStore) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	if err := ctx.Err(); err != nil {
		return tasklife.TransitionResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[req.GUID]
	if !ok {
		return tasklife.TransitionResult{}, tasklife.ErrNotFound
	}
	from := req.From
	if s.fault == faultFailedToCancel && req.Event == tasklife.EventCancel {
		from = append(slices.Clone(from), tasklife.StateFailed)
	}
	fenced := req.Owner != "" && t.Owner != req.Owner
	if req.Idempotency != nil && !fenced && (slices.Contains(from, t.State) || t.State == req.To) {
		if s.keyTaken(req.Idempotency) {
			return tasklife.TransitionResult{}, tasklife.ErrIdempotencyKeyExists
		}
		if !slices.Contains(from, t.State) { // the no-op answers with the task as it is
			s.recordKey(req.Idempotency, t)
			return tasklife.TransitionResult{Task: t.Clone()}, nil
		}
	}
	if !slices.Contains(from, t.State) || fenced {
		if s.fault == faultNoOpBumpsUpdated {
			t.UpdatedAt = time.Now().UTC().Add(time.Millisecond)
		}
		return tasklife.TransitionResult{Task: t.Clone()}, nil
	}
	prev := t.State
	s.write(t, req.To, req.FailureReason)
	s.record(req.Audit, t)
	s.recordKey(req.Idempotency, t)
	return tasklife.TransitionResult{Task: t.Clone(), From: prev, Applied: true}, nil
}

func (s *naiveStore) List(ctx context.Context, q tasklife.ListQuery) (*tasklife.Page, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*tasklife.Task
	for _, t := range s.tasks {
		if (len(q.GUIDs) == 0 || slices.Contains(q.GUIDs, t.GUID)) &&
			(len(q.Names) == 0 || slices.Contains(q.Names, t.Name)) &&
			(len(q.States) == 0 || slices.Contains(q.States, t.State)) &&
			(len(q.AppGUIDs) == 0 || slices.Contains(q.AppGUIDs, t.AppGUID)) &&
			(len(q.SequenceIDs) == 0 || slices.Contains(q.SequenceIDs, t.SequenceID)) &&
			q.CreatedAts.Match(t.CreatedAt) && q.UpdatedAts.Match(t.UpdatedAt) &&
			!slices.ContainsFunc(q.LabelSelector, func(r tasklife.LabelRequirement) bool { return !r.Matches(t.Labels) }) {
			hits = append(hits, t)
		}
	}
	slices.SortFunc(hits, func(a, b *tasklife.Task) int {
		ka, kb := a.CreatedAt, b.CreatedAt
		if q.OrderBy == tasklife.OrderByUpdatedAt {
			ka, kb = a.UpdatedAt, b.UpdatedAt
		}
		c := ka.Compare(kb)
		if c == 0 {
			c = cmp.Compare(s.order[a.GUID], s.order[b.GUID])
		}
		if q.Descending {
			c = -c
		}
		return c
	})
	page := &tasklife.Page{TotalResults: len(hits), Tasks: []*tasklife.Task{}}
	for i, t := range hits {
		if i/q.PerPage == q.Page-1 {
			page.Tasks = append(page.Tasks, t.Clone())
		}
	}
	return page, nil
}

func (s *naiveStore) record(audit *tasklife.AuditEvent, t *tasklife.Task) {
	if audit != nil {
		s.audit = append(s.audit, audit.For(t, uuid.NewString()))
	}
}

func (s *naiveStore) UpdateMetadata(ctx context.Context, guid string, patch tasklife.MetadataPatch) (*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[guid]
	if !ok {
		return nil, tasklife.ErrNotFound
	}
	if l, a, changed := patch.Apply(t.Labels, t.Annotations); changed {
		t.Labels, t.Annotations = l, a
		prev := t.UpdatedAt
		t.UpdatedAt = time.Now().UTC()
		if !t.UpdatedAt.After(prev) {
			t.UpdatedAt = prev.Add(time.Microsecond)
		}
		t.Version++
	}
	return t.Clone(), nil
}

func (s *naiveStore) AuditEvents(ctx context.Context, q tasklife.AuditQuery) (*tasklife.AuditPage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	page := &tasklife.AuditPage{Events: []*tasklife.AuditEvent{}}
	var hits []*tasklife.AuditEvent
	for _, e := range s.audit { // recorded under one lock: already in time order
		if (len(q.Types) == 0 || slices.Contains(q.Types, e.Type)) &&
			(len(q.TargetGUIDs) == 0 || slices.Contains(q.TargetGUIDs, e.TargetGUID)) &&
			q.CreatedAts.Match(e.CreatedAt) {
			hits = append(hits, e)
		}
	}
	if q.Descending {
		slices.Reverse(hits)
	}
	page.TotalResults = len(hits)
	for i, e := range hits {
		if i/q.PerPage == q.Page-1 {
			c := *e
			page.Events = append(page.Events, &c)
		}
	}
	return page, nil
}

func (s *naiveStore) DeleteEnded(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []*tasklife.Task
	for _, t := range s.tasks {
		if t.State.Terminal() && t.UpdatedAt.Before(before) {
			due = append(due, t)
		}
	}
	slices.SortFunc(due, func(a, b *tasklife.Task) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	for _, t := range due[:min(limit, len(due))] {
		delete(s.tasks, t.GUID)
	}
	return min(limit, len(due)), nil
}
