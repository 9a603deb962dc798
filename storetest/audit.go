package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

// testAuditEvents: a create and a cancel by an actor record one event
// each, completed from the task as written; a repeated cancel and a
// cancel of an ended task record nothing; observers see the actor.
func testAuditEvents(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	alice := tasklife.Actor{GUID: "u-1", Type: "user", Name: "alice@example.com"}
	nt := b.newTask()
	nt.Name, nt.MemoryInMB, nt.Actor = "migrate", 256, &alice
	task, err := b.svc.Create(b.ctx, nt)
	require.NoError(t, err)
	canceled, err := b.svc.CancelBy(b.ctx, task.GUID, alice, "wrong input")
	require.NoError(t, err)
	_, err = b.svc.CancelBy(b.ctx, task.GUID, alice, "again")
	require.NoError(t, err, "a repeated cancel is a no-op")
	untracked := b.createIn(t, tasklife.StateSucceeded)
	_, err = b.svc.CancelBy(b.ctx, untracked.GUID, alice, "")
	require.ErrorIs(t, err, tasklife.ErrInvalidTransition)

	page, err := b.svc.AuditEvents(b.ctx, tasklife.AuditQuery{})
	require.NoError(t, err)
	require.Equal(t, 2, page.TotalResults)
	create, cancel := page.Events[0], page.Events[1]
	require.NotEmpty(t, create.GUID)
	require.NotEqual(t, create.GUID, cancel.GUID)
	require.Equal(t, tasklife.AuditEvent{GUID: create.GUID, Type: tasklife.AuditTaskCreate, Actor: alice,
		TargetGUID: b.app, TaskGUID: task.GUID, TaskName: "migrate", MemoryInMB: 256, CreatedAt: task.UpdatedAt}, *create)
	require.Equal(t, tasklife.AuditEvent{GUID: cancel.GUID, Type: tasklife.AuditTaskCancel, Actor: alice, Reason: "wrong input",
		TargetGUID: b.app, TaskGUID: task.GUID, TaskName: "migrate", MemoryInMB: 256, CreatedAt: canceled.UpdatedAt}, *cancel)

	var withActor []tasklife.Change
	for _, c := range b.obs.list() {
		if c.Actor != nil {
			withActor = append(withActor, c)
		}
	}
	require.Len(t, withActor, 2, "observers see who asked")
	require.Equal(t, tasklife.EventCancel, withActor[1].Event)
	require.Equal(t, "wrong input", withActor[1].Reason)
	require.Equal(t, alice, *withActor[1].Actor)

	for _, tc := range []struct {
		q    tasklife.AuditQuery
		want []*tasklife.AuditEvent
	}{
		{tasklife.AuditQuery{Types: []string{tasklife.AuditTaskCancel}}, []*tasklife.AuditEvent{cancel}},
		{tasklife.AuditQuery{TargetGUIDs: []string{"other", b.app}}, []*tasklife.AuditEvent{create, cancel}},
		{tasklife.AuditQuery{TargetGUIDs: []string{"other"}}, nil},
		{tasklife.AuditQuery{Descending: true}, []*tasklife.AuditEvent{cancel, create}},
		{tasklife.AuditQuery{PerPage: 1, Page: 2}, []*tasklife.AuditEvent{cancel}},
		{tasklife.AuditQuery{CreatedAts: tasklife.TimeFilter{Equal: []time.Time{create.CreatedAt}}}, nil},
		{tasklife.AuditQuery{CreatedAts: tasklife.TimeFilter{Lt: create.CreatedAt.Add(-time.Second)}}, nil},
		{tasklife.AuditQuery{CreatedAts: tasklife.TimeFilter{Gte: create.CreatedAt}}, []*tasklife.AuditEvent{create, cancel}},
	} {
		page, err := b.svc.AuditEvents(b.ctx, tc.q)
		require.NoError(t, err)
		want := tc.want
		if tc.q.CreatedAts.Equal != nil {
			// Both may fall in the same second, or not.
			for _, e := range []*tasklife.AuditEvent{create, cancel} {
				if e.CreatedAt.Truncate(time.Second).Equal(create.CreatedAt.Truncate(time.Second)) {
					want = append(want, e)
				}
			}
		}
		var got []string
		for _, e := range page.Events {
			got = append(got, e.GUID)
		}
		var wantGUIDs []string
		for _, e := range want {
			wantGUIDs = append(wantGUIDs, e.GUID)
		}
		require.Equal(t, wantGUIDs, got, "%+v", tc.q)
	}
}

// testAuditedCancelRace: of many audited cancels racing on one task, one
// records an event.
func testAuditedCancelRace(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	task := b.createIn(t, tasklife.StateRunning)
	concurrently(8, func(int) {
		_, err := b.svc.CancelBy(b.ctx, task.GUID, tasklife.Actor{GUID: "u"}, "")
		require.NoError(t, err)
	})
	page, err := b.svc.AuditEvents(b.ctx, tasklife.AuditQuery{Types: []string{tasklife.AuditTaskCancel}})
	require.NoError(t, err)
	require.Equal(t, 1, page.TotalResults)
}
