package memstore

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/tasklife/tasklife"
)

// record appends the audit event of a change, if it has one, while the
// task's shard is still locked: a reader sees the change no later than
// its event, and never an event without its change.
func (s *Store) record(audit *tasklife.AuditEvent, t *tasklife.Task) {
	if audit == nil {
		return
	}
	e := audit.For(t, uuid.NewString())
	s.auditMu.Lock()
	s.audit = append(s.audit, e)
	s.auditMu.Unlock()
}

// UpdateMetadata implements tasklife.Store: the read and the write happen
// under the task's shard lock.
func (s *Store) UpdateMetadata(ctx context.Context, guid string, patch tasklife.MetadataPatch) (*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := &s.shards[s.shardIndex(guid)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := sh.tasks[guid]
	if !ok {
		return nil, tasklife.ErrNotFound
	}
	labels, annotations, changed := patch.Apply(r.labels, r.annotations)
	if changed {
		r.labels, r.annotations = labels, annotations
		r.updated = s.later(r.updated)
		r.version++
		sh.touch(r)
	}
	return r.task(), nil
}

// AuditEvents implements tasklife.Store.
func (s *Store) AuditEvents(ctx context.Context, q tasklife.AuditQuery) (*tasklife.AuditPage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.auditMu.RLock()
	var hits []*tasklife.AuditEvent
	for _, e := range s.audit {
		if (len(q.Types) == 0 || slices.Contains(q.Types, e.Type)) &&
			(len(q.TargetGUIDs) == 0 || slices.Contains(q.TargetGUIDs, e.TargetGUID)) &&
			q.CreatedAts.Match(e.CreatedAt) {
			hits = append(hits, e)
		}
	}
	s.auditMu.RUnlock()
	// Events are appended in the order recorded, which two shards may
	// swap against their times: a stable sort by time keeps that order
	// for ties (reversed, for a descending list).
	if q.Descending {
		slices.Reverse(hits)
	}
	slices.SortStableFunc(hits, func(a, b *tasklife.AuditEvent) int {
		if q.Descending {
			return b.CreatedAt.Compare(a.CreatedAt)
		}
		return a.CreatedAt.Compare(b.CreatedAt)
	})
	page := &tasklife.AuditPage{TotalResults: len(hits), Events: []*tasklife.AuditEvent{}}
	if skip := q.Page - 1; skip <= len(hits)/q.PerPage {
		start := skip * q.PerPage
		for _, e := range hits[min(start, len(hits)):min(start+q.PerPage, len(hits))] {
			c := *e // events never change, but the caller owns what it gets
			page.Events = append(page.Events, &c)
		}
	}
	return page, nil
}
