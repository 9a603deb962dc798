package storetest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

// key is an idempotency key of the suite's one caller.
func key(k, fingerprint string) *tasklife.IdempotencyKey {
	return &tasklife.IdempotencyKey{Caller: "user/u-1", Key: k, Fingerprint: fingerprint}
}

// answered is a task as an idempotency record keeps it: without its lease.
func answered(t *tasklife.Task) *tasklife.Task {
	c := t.Clone()
	c.Owner, c.LeaseExpiresAt = "", time.Time{}
	return c
}

// record returns the live record of k, failing t if there is none.
func (b *bundle) record(t *testing.T, k *tasklife.IdempotencyKey) *tasklife.IdempotencyRecord {
	t.Helper()
	rec, err := b.store.IdempotencyRecord(b.ctx, k.Caller, k.Key, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	return rec
}

// testKeyedCreate: a create with a key records the task as created; the
// key, once recorded, refuses a second create and changes nothing (not
// even the app's sequence); another caller's key of the same name is
// another key.
func testKeyedCreate(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	k := key("create-1", "fp-a")
	nt := &tasklife.Task{AppGUID: b.app, Name: "n", Command: "echo", Labels: map[string]string{"a": "b"}}
	created, err := b.store.CreateWithKey(b.ctx, nt, nil, k)
	require.NoError(t, err)
	rec := b.record(t, k)
	require.Equal(t, *k, rec.IdempotencyKey)
	require.Equal(t, answered(created), rec.Task)
	require.False(t, rec.CreatedAt.IsZero())

	_, err = b.store.CreateWithKey(b.ctx, nt, nil, key("create-1", "fp-other"))
	require.ErrorIs(t, err, tasklife.ErrIdempotencyKeyExists)
	require.Equal(t, "fp-a", b.record(t, k).Fingerprint, "the refused create recorded nothing")
	other := *k
	other.Caller = "user/u-2"
	second, err := b.store.CreateWithKey(b.ctx, nt, nil, &other)
	require.NoError(t, err, "keys are scoped by caller")
	require.Equal(t, int64(2), second.SequenceID, "the refused create used no sequence id")

	_, err = b.store.IdempotencyRecord(b.ctx, k.Caller, "never-used", time.Time{})
	require.ErrorIs(t, err, tasklife.ErrNotFound)

	// Through the Service: a repeat answers with the task as created.
	nk := *key("create-2", "fp-b")
	first, err := b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: b.app, Command: "echo", IdempotencyKey: &nk})
	require.NoError(t, err)
	_, err = b.svc.Cancel(b.ctx, first.GUID)
	require.NoError(t, err)
	again, err := b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: b.app, Command: "echo", IdempotencyKey: &nk})
	require.NoError(t, err)
	require.Equal(t, answered(first), again, "replayed as created, though it was canceled since")
	nk.Fingerprint = "fp-other"
	_, err = b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: b.app, Command: "echo", IdempotencyKey: &nk})
	require.ErrorIs(t, err, tasklife.ErrIdempotencyKeyReused)
	page, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: []string{b.app}})
	require.NoError(t, err)
	require.Equal(t, 3, page.TotalResults)
}

// testKeyedTransition: an applied step records the task as written; a
// no-op (already in the step's target) records the task as it is and
// writes nothing; a refused step records nothing; a recorded key refuses
// a step and changes nothing.
func testKeyedTransition(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	cancel := func(guid string, k *tasklife.IdempotencyKey) (tasklife.TransitionResult, error) {
		return b.store.Transition(b.ctx, tasklife.TransitionRequest{GUID: guid, Event: tasklife.EventCancel,
			From: []tasklife.State{tasklife.StatePending, tasklife.StateRunning}, To: tasklife.StateCanceling,
			Idempotency: k, Audit: &tasklife.AuditEvent{Type: tasklife.AuditTaskCancel, Actor: tasklife.Actor{GUID: "u-1"}}})
	}
	running := b.createIn(t, tasklife.StateRunning)
	k1 := key("cancel-1", "fp-1")
	res, err := cancel(running.GUID, k1)
	require.NoError(t, err)
	require.True(t, res.Applied)
	require.Equal(t, answered(res.Task), b.record(t, k1).Task)

	k2 := key("cancel-2", "fp-2")
	res, err = cancel(running.GUID, k2)
	require.NoError(t, err)
	require.False(t, res.Applied)
	require.Equal(t, tasklife.StateCanceling, res.Task.State)
	require.Equal(t, answered(res.Task), b.record(t, k2).Task, "a no-op records its answer")
	require.Equal(t, res.Task.Version, b.get(t, running.GUID).Version, "and writes nothing")

	pending := b.create(t)
	_, err = cancel(pending.GUID, k1)
	require.ErrorIs(t, err, tasklife.ErrIdempotencyKeyExists)
	require.Equal(t, tasklife.StatePending, b.get(t, pending.GUID).State, "a recorded key changes nothing")
	require.Equal(t, running.GUID, b.record(t, k1).Task.GUID)

	ended := b.createIn(t, tasklife.StateFailed)
	k3 := key("cancel-3", "fp-3")
	res, err = cancel(ended.GUID, k3)
	require.NoError(t, err)
	require.False(t, res.Applied)
	_, err = b.store.IdempotencyRecord(b.ctx, k3.Caller, k3.Key, time.Time{})
	require.ErrorIs(t, err, tasklife.ErrNotFound, "a refused step records nothing")

	page, err := b.svc.AuditEvents(b.ctx, tasklife.AuditQuery{Types: []string{tasklife.AuditTaskCancel}})
	require.NoError(t, err)
	require.Equal(t, 1, page.TotalResults, "only the applied step has an event")
}

// testKeyedCancelReplay: through the Service, a repeated keyed cancel
// answers with the first answer, even once the task has ended; the key's
// reuse for another request is refused.
func testKeyedCancelReplay(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	task := b.createIn(t, tasklife.StateRunning)
	by := tasklife.Actor{GUID: "u-1"}
	k := *key("c", "cancel "+task.GUID)
	first, err := b.svc.CancelKeyed(b.ctx, task.GUID, by, "", k)
	require.NoError(t, err)
	_, err = b.svc.Canceled(b.ctx, task.GUID)
	require.NoError(t, err)
	again, err := b.svc.CancelKeyed(b.ctx, task.GUID, by, "", k)
	require.NoError(t, err, "the repeat of a cancel that took effect is not refused")
	require.Equal(t, answered(first), again)
	_, err = b.svc.CancelKeyed(b.ctx, task.GUID, by, "", *key("fresh", "cancel "+task.GUID))
	require.ErrorIs(t, err, tasklife.ErrInvalidTransition, "a new key on an ended task")
	other := b.createIn(t, tasklife.StateRunning)
	k.Fingerprint = "cancel " + other.GUID
	_, err = b.svc.CancelKeyed(b.ctx, other.GUID, by, "", k)
	require.ErrorIs(t, err, tasklife.ErrIdempotencyKeyReused)
	require.Equal(t, tasklife.StateRunning, b.get(t, other.GUID).State)
}

// testKeyExpiry: a record made before notBefore is not found, and its key
// can be recorded again; DeleteIdempotencyKeys deletes the oldest first,
// at most limit a call.
func testKeyExpiry(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var keys []*tasklife.IdempotencyKey
	for _, name := range []string{"e-1", "e-2", "e-3"} {
		k := key(name, "fp")
		_, err := b.store.CreateWithKey(b.ctx, &tasklife.Task{AppGUID: b.app, Command: "echo"}, nil, k)
		require.NoError(t, err)
		keys = append(keys, k)
	}
	last := b.record(t, keys[2])
	n, err := b.store.DeleteIdempotencyKeys(b.ctx, b.record(t, keys[0]).CreatedAt, 10)
	require.NoError(t, err)
	require.Zero(t, n, "nothing was recorded before the cutoff")
	after := last.CreatedAt.Add(time.Microsecond)
	n, err = b.store.DeleteIdempotencyKeys(b.ctx, after, 2)
	require.NoError(t, err)
	require.Equal(t, 2, n, "the limit bounds a call")
	b.record(t, keys[2]) // the newest stays
	n, err = b.store.DeleteIdempotencyKeys(b.ctx, after, 2)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	for _, k := range keys {
		_, err = b.store.IdempotencyRecord(b.ctx, k.Caller, k.Key, time.Time{})
		require.ErrorIs(t, err, tasklife.ErrNotFound)
	}

	k := key("e-4", "fp")
	first, err := b.store.CreateWithKey(b.ctx, &tasklife.Task{AppGUID: b.app, Command: "echo"}, nil, k)
	require.NoError(t, err)
	rec := b.record(t, k)
	_, err = b.store.IdempotencyRecord(b.ctx, k.Caller, k.Key, rec.CreatedAt.Add(time.Microsecond))
	require.ErrorIs(t, err, tasklife.ErrNotFound, "expired")
	second, err := b.store.CreateWithKey(b.ctx, &tasklife.Task{AppGUID: b.app, Command: "echo"}, nil, k)
	require.NoError(t, err, "an expired key is recorded again")
	require.NotEqual(t, first.GUID, second.GUID)
	require.Equal(t, second.GUID, b.record(t, k).Task.GUID)
}

// testConcurrentKeys: of concurrent creates with one key, one creates a
// task; of concurrent keyed cancels with one key, all answer alike and
// one records an event.
func testConcurrentKeys(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	k := key("race", "fp")
	var won atomic.Int32
	concurrently(8, func(int) {
		_, err := b.store.CreateWithKey(b.ctx, &tasklife.Task{AppGUID: b.app, Command: "echo"}, nil, k)
		if err == nil {
			won.Add(1)
		} else if !errors.Is(err, tasklife.ErrIdempotencyKeyExists) {
			t.Error(err)
		}
	})
	require.Equal(t, int32(1), won.Load())
	page, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: []string{b.app}})
	require.NoError(t, err)
	require.Equal(t, 1, page.TotalResults)

	task := b.createIn(t, tasklife.StateRunning)
	answers := make([]*tasklife.Task, 8)
	concurrently(8, func(i int) {
		var err error
		answers[i], err = b.svc.CancelKeyed(b.ctx, task.GUID, tasklife.Actor{GUID: "u-1"}, "", *key("cancel-race", "fp"))
		if err != nil {
			t.Error(err)
		}
	})
	for _, a := range answers[1:] {
		require.Equal(t, answered(answers[0]), answered(a))
	}
	events, err := b.svc.AuditEvents(b.ctx, tasklife.AuditQuery{Types: []string{tasklife.AuditTaskCancel}})
	require.NoError(t, err)
	require.Equal(t, 1, events.TotalResults)
}
