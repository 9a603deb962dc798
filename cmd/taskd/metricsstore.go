package main

import (
	"context"
	"time"

	"github.com/tasklife/tasklife"
)

// countingStore is a Store that counts its faults in metrics.
type countingStore struct {
	tasklife.Store
	m *metrics
}

func (s countingStore) Create(ctx context.Context, t *tasklife.Task, a *tasklife.AuditEvent) (*tasklife.Task, error) {
	r, err := s.Store.Create(ctx, t, a)
	s.m.storeError("create", err)
	return r, err
}

func (s countingStore) Get(ctx context.Context, guid string) (*tasklife.Task, error) {
	r, err := s.Store.Get(ctx, guid)
	s.m.storeError("get", err)
	return r, err
}

func (s countingStore) List(ctx context.Context, q tasklife.ListQuery) (*tasklife.Page, error) {
	r, err := s.Store.List(ctx, q)
	s.m.storeError("list", err)
	return r, err
}

func (s countingStore) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	r, err := s.Store.Transition(ctx, req)
	s.m.storeError("transition", err)
	return r, err
}

func (s countingStore) Claim(ctx context.Context, req tasklife.ClaimRequest) ([]*tasklife.Task, error) {
	r, err := s.Store.Claim(ctx, req)
	s.m.storeError("claim", err)
	return r, err
}

func (s countingStore) Renew(ctx context.Context, owner string, lease time.Duration) ([]string, error) {
	r, err := s.Store.Renew(ctx, owner, lease)
	s.m.storeError("renew", err)
	return r, err
}

func (s countingStore) Expire(ctx context.Context, req tasklife.ExpireRequest) ([]tasklife.Change, error) {
	r, err := s.Store.Expire(ctx, req)
	s.m.storeError("expire", err)
	return r, err
}

func (s countingStore) UpdateMetadata(ctx context.Context, guid string, p tasklife.MetadataPatch) (*tasklife.Task, error) {
	r, err := s.Store.UpdateMetadata(ctx, guid, p)
	s.m.storeError("update_metadata", err)
	return r, err
}

func (s countingStore) AuditEvents(ctx context.Context, q tasklife.AuditQuery) (*tasklife.AuditPage, error) {
	r, err := s.Store.AuditEvents(ctx, q)
	s.m.storeError("audit_events", err)
	return r, err
}

func (s countingStore) DeleteEnded(ctx context.Context, before time.Time, limit int) (int, error) {
	r, err := s.Store.DeleteEnded(ctx, before, limit)
	s.m.storeError("delete_ended", err)
	return r, err
}
