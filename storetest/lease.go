package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

// The lease tests claim from the whole store: they need it empty, as
// NewStore asks. Leases that must run out are a millisecond long, and the
// tests wait for Expire to find them: a store's clock is its own (pgstore
// reads PostgreSQL's).

const (
	longLease = time.Hour
	tinyLease = time.Millisecond
)

func (b *bundle) claim(t *testing.T, req tasklife.ClaimRequest) []*tasklife.Task {
	t.Helper()
	if req.Lease == 0 {
		req.Lease = longLease
	}
	if req.Limit == 0 {
		req.Limit = tasklife.MaxPerPage
	}
	tasks, err := b.svc.Claim(b.ctx, req)
	require.NoError(t, err)
	return tasks
}

// expireUntil calls Expire until it has ended the task guid, and returns
// it as ended; it fails t if that never happens.
func (b *bundle) expireUntil(t *testing.T, req tasklife.ExpireRequest, guid string) *tasklife.Task {
	t.Helper()
	return b.expireAll(t, req, guid)[0]
}

// expireAll calls Expire until it has ended every task of guids, and
// returns them as ended, in the order of guids.
func (b *bundle) expireAll(t *testing.T, req tasklife.ExpireRequest, guids ...string) []*tasklife.Task {
	t.Helper()
	req.Limit = tasklife.MaxPerPage
	ended := map[string]*tasklife.Task{}
	require.Eventually(t, func() bool {
		tasks, err := b.svc.Expire(b.ctx, req)
		require.NoError(t, err)
		for _, task := range tasks {
			ended[task.GUID] = task
		}
		return len(ended) == len(guids)
	}, 10*time.Second, time.Millisecond, "Expire never ended all of %v", guids)
	out := make([]*tasklife.Task, len(guids))
	for i, guid := range guids {
		out[i] = ended[guid]
		require.NotNil(t, out[i], "Expire ended %v, not %s", ended, guid)
	}
	return out
}

func testClaimOldestFirst(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var created []*tasklife.Task
	for range 5 {
		created = append(created, b.create(t))
	}
	canceled := b.createIn(t, tasklife.StateCanceling)

	first := b.claim(t, tasklife.ClaimRequest{Owner: "a", Limit: 2})
	require.Equal(t, guids(created[:2]), guids(first), "the oldest PENDING tasks first")
	for i, task := range first {
		require.Equal(t, tasklife.StateRunning, task.State)
		require.Equal(t, "a", task.Owner)
		require.Equal(t, created[i].Version+1, task.Version)
		require.True(t, task.UpdatedAt.After(created[i].UpdatedAt))
		require.True(t, task.LeaseExpiresAt.After(task.UpdatedAt.Add(longLease-time.Minute)),
			"the lease runs from the claim: %v, claimed at %v", task.LeaseExpiresAt, task.UpdatedAt)
		require.Equal(t, task, b.get(t, task.GUID), "the claim returns the task as written")
	}
	rest := b.claim(t, tasklife.ClaimRequest{Owner: "b"})
	require.Equal(t, guids(created[2:]), guids(rest), "a CANCELING task is never claimed")
	require.Empty(t, b.claim(t, tasklife.ClaimRequest{Owner: "c"}), "nothing left to claim")
	require.Equal(t, tasklife.StateCanceling, b.get(t, canceled.GUID).State)

	starts := 0
	for _, c := range b.obs.list() {
		if c.Event == tasklife.EventStart && c.Task.Owner != "" {
			require.Equal(t, tasklife.StatePending, c.From)
			starts++
		}
	}
	require.Equal(t, 5, starts, "observers hear of every claim as a start")
}

func testClaimGUIDs(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	older, wanted, running := b.create(t), b.create(t), b.createIn(t, tasklife.StateRunning)
	got := b.claim(t, tasklife.ClaimRequest{Owner: "a", GUIDs: []string{wanted.GUID, running.GUID, "no-such-task"}})
	require.Equal(t, []string{wanted.GUID}, guids(got), "only the named PENDING tasks")
	require.Equal(t, tasklife.StatePending, b.get(t, older.GUID).State)
	require.Equal(t, running.Version, b.get(t, running.GUID).Version, "a RUNNING task is not written")
}

func testConcurrentClaims(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	const tasks, claimers = 40, 8
	for range tasks {
		b.create(t)
	}
	var mu sync.Mutex
	owners := map[string]string{}
	concurrently(claimers, func(i int) {
		owner := string(rune('a' + i))
		for {
			got, err := b.svc.Claim(b.ctx, tasklife.ClaimRequest{Owner: owner, Lease: longLease, Limit: 3})
			if err != nil {
				t.Error(err)
				return
			}
			if len(got) == 0 {
				return
			}
			mu.Lock()
			for _, task := range got {
				if prev, dup := owners[task.GUID]; dup {
					t.Errorf("%s claimed by %s and by %s", task.GUID, prev, owner)
				}
				owners[task.GUID] = owner
			}
			mu.Unlock()
		}
	})
	require.Len(t, owners, tasks, "every task claimed exactly once")
	for guid, owner := range owners {
		require.Equal(t, owner, b.get(t, guid).Owner)
	}
}

func testRenew(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	for range 3 {
		b.create(t)
	}
	mine := b.claim(t, tasklife.ClaimRequest{Owner: "a", Limit: 2, Lease: time.Minute})
	theirs := b.claim(t, tasklife.ClaimRequest{Owner: "b", Limit: 1})
	_, err := b.svc.Cancel(b.ctx, mine[1].GUID)
	require.NoError(t, err)
	before := b.get(t, mine[1].GUID)

	held, err := b.svc.Renew(b.ctx, "a", longLease)
	require.NoError(t, err)
	require.ElementsMatch(t, guids(mine), held, "RUNNING and CANCELING tasks of the owner, and no others")
	after := b.get(t, mine[1].GUID)
	require.True(t, after.LeaseExpiresAt.After(before.LeaseExpiresAt), "the lease moved")
	require.Equal(t, before.Version, after.Version, "a renewal is not a change")
	require.Equal(t, before.UpdatedAt, after.UpdatedAt, "a renewal is not a change")
	require.Equal(t, theirs[0], b.get(t, theirs[0].GUID), "another owner's task is untouched")

	_, err = b.svc.ApplyAs(b.ctx, "a", mine[0].GUID, tasklife.EventSucceed, "")
	require.NoError(t, err)
	held, err = b.svc.Renew(b.ctx, "a", longLease)
	require.NoError(t, err)
	require.Equal(t, []string{mine[1].GUID}, held, "an ended task is no longer held")
	ended := b.get(t, mine[0].GUID)
	require.True(t, ended.LeaseExpiresAt.IsZero(), "an ended task has no lease")
	require.Equal(t, "a", ended.Owner, "and still says who ran it")
}

func testFencing(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t)
	task := b.claim(t, tasklife.ClaimRequest{Owner: "a"})[0]

	req := Request(task.GUID, tasklife.EventSucceed, "")
	req.Owner = "b"
	res, err := b.store.Transition(b.ctx, req)
	require.NoError(t, err)
	require.False(t, res.Applied, "another owner's step is refused")
	require.Equal(t, task, res.Task)
	_, err = b.svc.ApplyAs(b.ctx, "b", task.GUID, tasklife.EventSucceed, "")
	require.ErrorIs(t, err, tasklife.ErrNotOwner)
	require.Equal(t, task, b.get(t, task.GUID), "nothing written")

	done, err := b.svc.ApplyAs(b.ctx, "a", task.GUID, tasklife.EventFail, reason)
	require.NoError(t, err)
	require.Equal(t, tasklife.StateFailed, done.State)
	_, err = b.svc.ApplyAs(b.ctx, "a", task.GUID, tasklife.EventSucceed, "")
	var te *tasklife.TransitionError
	require.ErrorAs(t, err, &te, "a second outcome is refused by the state")
}

func testExpireLease(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t)
	b.create(t)
	kept := b.claim(t, tasklife.ClaimRequest{Owner: "alive", Limit: 1})[0]
	lost := b.claim(t, tasklife.ClaimRequest{Owner: "dead", Limit: 1, Lease: tinyLease})[0]
	started := b.createIn(t, tasklife.StateRunning) // no lease: never expires by one

	ended := b.expireUntil(t, tasklife.ExpireRequest{}, lost.GUID)
	require.Equal(t, tasklife.StateFailed, ended.State)
	require.Equal(t, tasklife.ReasonUnknownOutcome, ended.FailureReason)
	require.Equal(t, lost.Version+1, ended.Version)
	require.True(t, ended.LeaseExpiresAt.IsZero())
	last := b.obs.list()[len(b.obs.list())-1]
	require.Equal(t, tasklife.EventFail, last.Event)
	require.Equal(t, tasklife.StateRunning, last.From)

	require.Equal(t, tasklife.StateRunning, b.get(t, kept.GUID).State, "a live lease stands")
	require.Equal(t, tasklife.StateRunning, b.get(t, started.GUID).State)

	held, err := b.svc.Renew(b.ctx, "dead", longLease)
	require.NoError(t, err)
	require.Empty(t, held, "a lost task is not renewed")
	_, err = b.svc.ApplyAs(b.ctx, "dead", lost.GUID, tasklife.EventSucceed, "")
	var te *tasklife.TransitionError
	require.ErrorAs(t, err, &te, "the late owner's outcome is refused")
	require.Equal(t, ended, b.get(t, lost.GUID))
}

func testExpireCancelDeadline(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	b.create(t)
	claimed := b.claim(t, tasklife.ClaimRequest{Owner: "a"})[0]
	_, err := b.svc.Cancel(b.ctx, claimed.GUID)
	require.NoError(t, err)
	unowned := b.createIn(t, tasklife.StateCanceling) // cancelled while PENDING

	got, err := b.svc.Expire(b.ctx, tasklife.ExpireRequest{CancelDeadline: longLease, Limit: tasklife.MaxPerPage})
	require.NoError(t, err)
	require.Empty(t, got, "within the deadline")
	got, err = b.svc.Expire(b.ctx, tasklife.ExpireRequest{Limit: tasklife.MaxPerPage})
	require.NoError(t, err)
	require.Empty(t, got, "no deadline, and the lease stands")

	for _, ended := range b.expireAll(t, tasklife.ExpireRequest{CancelDeadline: time.Microsecond}, claimed.GUID, unowned.GUID) {
		require.Equal(t, tasklife.StateFailed, ended.State)
		require.Equal(t, tasklife.ReasonCanceled, ended.FailureReason)
	}
	for _, c := range b.obs.list()[len(b.obs.list())-2:] {
		require.Equal(t, tasklife.EventCanceled, c.Event)
		require.Equal(t, tasklife.StateCanceling, c.From)
	}
}

func testExpirePending(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	old := b.create(t)
	running := b.createIn(t, tasklife.StateRunning)
	got, err := b.svc.Expire(b.ctx, tasklife.ExpireRequest{PendingExpiry: longLease, Limit: tasklife.MaxPerPage})
	require.NoError(t, err)
	require.Empty(t, got)

	ended := b.expireUntil(t, tasklife.ExpireRequest{PendingExpiry: time.Microsecond}, old.GUID)
	require.Equal(t, tasklife.ReasonExpired, ended.FailureReason)
	require.Equal(t, tasklife.StateRunning, b.get(t, running.GUID).State, "only PENDING tasks expire so")
	require.Empty(t, b.claim(t, tasklife.ClaimRequest{Owner: "a"}), "an expired task is not claimed")
}

func testExpireLimit(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	for range 5 {
		b.createIn(t, tasklife.StateCanceling)
	}
	var total int
	require.Eventually(t, func() bool {
		got, err := b.svc.Expire(b.ctx, tasklife.ExpireRequest{CancelDeadline: time.Microsecond, Limit: 2})
		require.NoError(t, err)
		require.LessOrEqual(t, len(got), 2, "Limit bounds one call")
		total += len(got)
		return total == 5
	}, 10*time.Second, time.Millisecond)

	_, err := b.svc.Claim(b.ctx, tasklife.ClaimRequest{Owner: "", Lease: time.Second, Limit: 1})
	require.ErrorIs(t, err, tasklife.ErrInvalidInput, "a claim needs an owner")
	_, err = b.svc.Expire(b.ctx, tasklife.ExpireRequest{Limit: 0})
	require.ErrorIs(t, err, tasklife.ErrInvalidInput)
	if _, err := b.svc.Renew(b.ctx, "a", 0); !errors.Is(err, tasklife.ErrInvalidInput) {
		t.Fatalf("Renew with no lease: %v, want an input error", err)
	}
}
