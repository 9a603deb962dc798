package tasklife

import (
	"context"
	"time"
)

// Audit event types, Cloud Foundry's names.
const (
	AuditTaskCreate = "audit.app.task.create"
	AuditTaskCancel = "audit.app.task.cancel"
)

// Actor is who asked for a change: recorded in its audit event and shown
// to observers. Cloud Foundry's actors are users ("user"), clients and
// the like; the host decides.
type Actor struct {
	GUID string
	Type string
	Name string
}

// AuditEvent records who asked for a create or a cancel, written by the
// store in the same operation as the change it describes: there is no
// change without its event and no event without its change.
type AuditEvent struct {
	// GUID, CreatedAt and the task's fields below are set by the store.
	GUID string
	// Type is AuditTaskCreate or AuditTaskCancel.
	Type  string
	Actor Actor
	// Reason is why, when the actor said.
	Reason string
	// TargetGUID is the task's app (CC's actee).
	TargetGUID string
	TaskGUID   string
	TaskName   string
	MemoryInMB int64
	// CreatedAt is the change's time: the task's UpdatedAt as written.
	CreatedAt time.Time
}

// For returns a copy of e completed for the task t that its operation
// wrote, with the given event guid: what a store records.
func (e *AuditEvent) For(t *Task, guid string) *AuditEvent {
	c := *e
	c.GUID = guid
	c.TargetGUID = t.AppGUID
	c.TaskGUID = t.GUID
	c.TaskName = t.Name
	c.MemoryInMB = t.MemoryInMB
	c.CreatedAt = t.UpdatedAt
	return &c
}

// AuditQuery selects audit events, oldest first unless Descending. Within
// a filter the values are alternatives; filters combine with AND.
type AuditQuery struct {
	Types       []string
	TargetGUIDs []string
	CreatedAts  TimeFilter
	Descending  bool
	// Page and PerPage as in ListQuery.
	Page    int
	PerPage int
}

// AuditPage is one page of audit events.
type AuditPage struct {
	Events       []*AuditEvent
	TotalResults int
	// Query is the query the store ran, defaults filled in.
	Query AuditQuery
}

// Normalize fills q's defaults and checks its bounds, as ListQuery's does.
func (q AuditQuery) Normalize() (AuditQuery, error) {
	lq, err := ListQuery{Page: q.Page, PerPage: q.PerPage}.Normalize()
	q.Page, q.PerPage = lq.Page, lq.PerPage
	return q, err
}

// AuditEvents returns one page of the audit events q selects.
func (s *Service) AuditEvents(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	p, err := s.store.AuditEvents(ctx, q)
	if err != nil {
		return nil, err
	}
	p.Query = q
	return p, nil
}

// CancelBy is Cancel on behalf of by, for a reason (may be empty): when the
// cancel moves the task to CANCELING, the store records an AuditTaskCancel
// event in the same write, and observers see by and reason in the Change.
// A cancel of a CANCELING task changes nothing and records nothing (Cloud
// Controller would record a second event).
func (s *Service) CancelBy(ctx context.Context, guid string, by Actor, reason string) (*Task, error) {
	if err := checkActor(by, reason); err != nil {
		return nil, err
	}
	return s.stepAudited(ctx, guid, EventCancel, "", "", &AuditEvent{Type: AuditTaskCancel, Actor: by, Reason: reason})
}

func checkActor(by Actor, reason string) error {
	for field, v := range map[string]string{"actor_guid": by.GUID, "actor_type": by.Type, "actor_name": by.Name, "reason": reason} {
		if err := checkText(field, v); err != nil {
			return err
		}
	}
	if by.GUID == "" && by.Name == "" {
		return &InputError{Field: "actor", Reason: "must have a guid or a name"}
	}
	return nil
}
