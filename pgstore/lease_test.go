package pgstore_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// TestClaimsAcrossPools: instances on pools of their own, two claimers
// each, claim from one queue until it is empty; no task is taken twice and
// none is left.
func TestClaimsAcrossPools(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first := pgtest.Store(t)
	svc := tasklife.New(first)
	const tasks, instances, claimers = 150, 4, 2
	for range tasks {
		_, err := svc.Create(ctx, tasklife.NewTask{AppGUID: uuid.NewString(), Command: "true"})
		require.NoError(t, err)
	}
	stores := []*pgstore.Store{first}
	for len(stores) < instances {
		s, err := pgstore.New(pgtest.Pool(t), pgstore.WithSchema(first.Schema()))
		require.NoError(t, err)
		stores = append(stores, s)
	}

	// Each claimer keeps what it took; duplicates are looked for after.
	took := make([][]*tasklife.Task, instances*claimers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range took {
		s, owner := stores[i/claimers], "claimer-"+strconv.Itoa(i)
		wg.Go(func() {
			<-start
			for {
				got, err := s.Claim(ctx, tasklife.ClaimRequest{Owner: owner, Lease: time.Hour, Limit: 4})
				if err != nil {
					t.Error(err)
				}
				if len(got) == 0 {
					return
				}
				took[i] = append(took[i], got...)
			}
		})
	}
	close(start)
	wg.Wait()
	owners := map[string]string{}
	for _, got := range took {
		for _, task := range got {
			if prev, dup := owners[task.GUID]; dup {
				t.Errorf("%s claimed by %s and by %s", task.GUID, prev, task.Owner)
			}
			owners[task.GUID] = task.Owner
		}
	}
	require.Len(t, owners, tasks, "every task claimed once")
	page, err := svc.List(ctx, tasklife.ListQuery{States: []tasklife.State{tasklife.StateRunning}, PerPage: tasklife.MaxPerPage})
	require.NoError(t, err)
	require.Equal(t, tasks, page.TotalResults)
	for _, task := range page.Tasks {
		require.Equal(t, owners[task.GUID], task.Owner)
		require.Equal(t, int64(2), task.Version, "one write per task")
	}
}

// TestListenHearsClaimsAndExpiries: a claim is published as a start, and
// every expiry as the step it makes, so that the owner and the other
// instances hear of a task taken over.
func TestListenHearsClaimsAndExpiries(t *testing.T) {
	t.Parallel()
	lb := setupListen(t, time.Hour, nil)
	create := func() *tasklife.Task {
		task, err := lb.svcA.Create(lb.ctx, tasklife.NewTask{AppGUID: lb.app, Command: "true"})
		require.NoError(t, err)
		return task
	}
	create()
	create()
	lost, err := lb.a.Claim(lb.ctx, tasklife.ClaimRequest{Owner: "dead", Lease: time.Millisecond, Limit: 2})
	require.NoError(t, err)
	require.Len(t, lost, 2)
	canceled, err := lb.a.Claim(lb.ctx, tasklife.ClaimRequest{Owner: "alive", Lease: time.Hour, Limit: 1, GUIDs: []string{create().GUID}})
	require.NoError(t, err)
	require.Len(t, canceled, 1)
	_, err = lb.svcA.Cancel(lb.ctx, canceled[0].GUID)
	require.NoError(t, err)
	expired := create()

	heard := func(task *tasklife.Task, ev tasklife.Event, from, to tasklife.State, version int64) {
		t.Helper()
		want := pgstore.Notification{GUID: task.GUID, AppGUID: lb.app, Event: ev, From: from, To: to, Version: version}
		lb.inbox.waitFor(t, func(n pgstore.Notification) bool { return n == want })
	}
	for _, task := range append(lost, canceled...) {
		heard(task, tasklife.EventStart, tasklife.StatePending, tasklife.StateRunning, 2)
	}

	// The survivor, instance b, ends them all.
	ended := map[string]tasklife.Change{}
	require.Eventually(t, func() bool {
		changes, err := lb.b.Expire(lb.ctx, tasklife.ExpireRequest{CancelDeadline: time.Microsecond,
			PendingExpiry: time.Microsecond, Limit: tasklife.MaxPerPage})
		require.NoError(t, err)
		for _, c := range changes {
			ended[c.Task.GUID] = c
		}
		return len(ended) == 5 // and the listener's marker, CANCELING since before
	}, 10*time.Second, time.Millisecond)
	for _, task := range lost {
		heard(task, tasklife.EventFail, tasklife.StateRunning, tasklife.StateFailed, 3)
		require.Equal(t, tasklife.ReasonUnknownOutcome, ended[task.GUID].Task.FailureReason)
	}
	heard(canceled[0], tasklife.EventCanceled, tasklife.StateCanceling, tasklife.StateFailed, 4)
	heard(expired, tasklife.EventFail, tasklife.StatePending, tasklife.StateFailed, 2)
	require.Equal(t, tasklife.ReasonExpired, ended[expired.GUID].Task.FailureReason)
	for _, task := range append(lost, canceled[0], expired) {
		require.Equal(t, 1, lb.inbox.count(func(n pgstore.Notification) bool {
			return n.GUID == task.GUID && n.To == tasklife.StateFailed
		}), "one notification per change")
	}
}
