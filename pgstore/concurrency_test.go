package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// waitForLockWaiters polls until n backends wait on a lock while running a
// statement on schema's tables.
func waitForLockWaiters(t *testing.T, pool *pgxpool.Pool, schema string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var waiting int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND position($1 IN query) > 0`, schema).Scan(&waiting)
		require.NoError(t, err)
		return waiting >= n
	}, 10*time.Second, 5*time.Millisecond)
}

// TestTransitionSeesTheWinner makes a transition wait on a row another
// transaction has changed and then commits that change. Under READ
// COMMITTED a statement's snapshot predates the winner's commit; the store
// must still judge the guard, and report the task, by what the winner wrote.
func TestTransitionSeesTheWinner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		initial []tasklife.Event // from PENDING
		winner  tasklife.Event   // commits while the loser waits
		loser   tasklife.Event
		applied bool
		want    tasklife.State
	}{
		// The loser's guard held on the old row but not on the winner's.
		{"succeed beats cancel", []tasklife.Event{tasklife.EventStart}, tasklife.EventSucceed, tasklife.EventCancel, false, tasklife.StateSucceeded},
		{"cancel beats start", nil, tasklife.EventCancel, tasklife.EventStart, false, tasklife.StateCanceling},
		{"fail beats succeed", []tasklife.Event{tasklife.EventStart}, tasklife.EventFail, tasklife.EventSucceed, false, tasklife.StateFailed},
		// The loser's guard failed on the old row but holds on the winner's.
		{"start enables succeed", nil, tasklife.EventStart, tasklife.EventSucceed, true, tasklife.StateSucceeded},
		{"cancel enables canceled", []tasklife.Event{tasklife.EventStart}, tasklife.EventCancel, tasklife.EventCanceled, true, tasklife.StateFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := pgtest.Pool(t)
			store := pgtest.StoreOn(t, pool)
			svc := tasklife.New(store)
			task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: uuid.NewString(), Command: "true"})
			require.NoError(t, err)
			for _, ev := range tc.initial {
				task, err = svc.Apply(ctx, task.GUID, ev, "boom")
				require.NoError(t, err)
			}

			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			won, err := tasklife.New(store.WithTx(tx)).Apply(ctx, task.GUID, tc.winner, "boom")
			require.NoError(t, err)

			type result struct {
				res tasklife.TransitionResult
				err error
			}
			done := make(chan result, 1)
			go func() {
				res, err := store.Transition(ctx, request(tc.loser)(task.GUID))
				done <- result{res, err}
			}()
			waitForLockWaiters(t, pool, store.Schema(), 1)
			require.NoError(t, tx.Commit(ctx))

			got := <-done
			require.NoError(t, got.err)
			require.Equal(t, tc.applied, got.res.Applied)
			require.Equal(t, tc.want, got.res.Task.State)
			if tc.applied {
				require.Equal(t, won.State, got.res.From)
				require.Equal(t, won.Version+1, got.res.Task.Version)
			} else {
				require.Equal(t, won, got.res.Task, "the refused transition reports the winner's row")
			}
		})
	}
}

// request builds the TransitionRequest the Service sends for ev.
func request(ev tasklife.Event) func(guid string) tasklife.TransitionRequest {
	rule, _ := tasklife.RuleFor(ev)
	return func(guid string) tasklife.TransitionRequest {
		req := tasklife.TransitionRequest{GUID: guid, Event: ev, From: rule.From, To: rule.To}
		switch ev {
		case tasklife.EventFail:
			req.FailureReason = "boom"
		case tasklife.EventCanceled:
			req.FailureReason = tasklife.ReasonCanceled
		}
		return req
	}
}
