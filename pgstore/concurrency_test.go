package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
	"github.com/tasklife/tasklife/storetest"
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

// raceCases are transitions (the loser) racing a winner that another
// transaction has written but not yet committed. When the loser's guard
// holds on the row it can see, its UPDATE waits for the winner and then
// re-checks the guard on what the winner committed; when the guard fails
// on that row, it does not wait, and the winner commits after it.
var raceCases = []struct {
	name    string
	initial []tasklife.Event // from PENDING
	winner  tasklife.Event
	loser   tasklife.Event
	waits   bool
}{
	// The loser's guard holds on the old row but not on the winner's.
	{"succeed beats cancel", []tasklife.Event{tasklife.EventStart}, tasklife.EventSucceed, tasklife.EventCancel, true},
	{"cancel beats start", nil, tasklife.EventCancel, tasklife.EventStart, true},
	{"fail beats succeed", []tasklife.Event{tasklife.EventStart}, tasklife.EventFail, tasklife.EventSucceed, true},
	{"cancel beats cancel", []tasklife.Event{tasklife.EventStart}, tasklife.EventCancel, tasklife.EventCancel, true},
	// The loser's guard holds on both rows: it writes on top of the winner.
	{"cancel of a task being started", nil, tasklife.EventStart, tasklife.EventCancel, true},
	{"fail of a task being canceled", []tasklife.Event{tasklife.EventStart}, tasklife.EventCancel, tasklife.EventFail, true},
	// The loser's guard fails on the old row: it is refused at once.
	{"succeed before start", nil, tasklife.EventStart, tasklife.EventSucceed, false},
	{"canceled before cancel", []tasklife.Event{tasklife.EventStart}, tasklife.EventCancel, tasklife.EventCanceled, false},
}

// race sets up one of raceCases: a task taken through initial, and the
// winner applied in an open transaction. It runs loser in a goroutine, lets
// it wait for the winner (or finish, when it does not wait), commits the
// winner and returns the task before the winner, the winner's task, and
// what loser returned. use is handed the store before loser runs.
func race[R any](t *testing.T, initial []tasklife.Event, winner tasklife.Event, waits bool,
	loser func(guid string) R, use func(*pgstore.Store)) (before, won *tasklife.Task, got R) {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := pgtest.StoreOn(t, pool)
	use(store)
	svc := tasklife.New(store)
	before, err := svc.Create(ctx, tasklife.NewTask{AppGUID: uuid.NewString(), Command: "true"})
	require.NoError(t, err)
	for _, ev := range initial {
		before, err = svc.Apply(ctx, before.GUID, ev, "boom")
		require.NoError(t, err)
	}

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	won, err = tasklife.New(store.WithTx(tx)).Apply(ctx, before.GUID, winner, "boom")
	require.NoError(t, err)

	done := make(chan R, 1)
	go func() { done <- loser(before.GUID) }()
	if waits {
		waitForLockWaiters(t, pool, store.Schema(), 1)
	} else {
		got = <-done
	}
	require.NoError(t, tx.Commit(ctx))
	if waits {
		got = <-done
	}
	return before, won, got
}

// TestTransitionRacingAWinner runs each race through the Service: whatever
// the store reports for the statement's snapshot, the result is the one the
// serial order explains (the loser after the winner when it waited, before
// it when it did not), with the right outcome, task and error.
func TestTransitionRacingAWinner(t *testing.T) {
	t.Parallel()
	for _, tc := range raceCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				task *tasklife.Task
				err  error
			}
			var (
				svc     *tasklife.Service
				changes []tasklife.Change // the loser's, committed
			)
			before, won, got := race(t, tc.initial, tc.winner, tc.waits, func(guid string) result {
				task, err := svc.Apply(context.Background(), guid, tc.loser, "boom")
				return result{task, err}
			}, func(store *pgstore.Store) {
				svc = tasklife.New(store, tasklife.WithObserver(func(_ context.Context, c tasklife.Change) {
					if c.Event == tc.loser {
						changes = append(changes, c)
					}
				}))
			})
			// The serial order: the loser sees the winner's row only if
			// it waited for it.
			seen := before
			if tc.waits {
				seen = won
			}
			outcome, to := lifecycle.Decide(string(tc.loser), string(seen.State))
			switch outcome {
			case lifecycle.Apply:
				require.NoError(t, got.err)
				require.Equal(t, tasklife.State(to), got.task.State)
				require.Equal(t, seen.Version+1, got.task.Version)
				require.Equal(t, []tasklife.Change{{Task: got.task, From: seen.State, To: tasklife.State(to), Event: tc.loser}}, changes)
				return
			case lifecycle.NoOp:
				require.NoError(t, got.err)
				require.Equal(t, seen, got.task)
			case lifecycle.Invalid:
				var te *tasklife.TransitionError
				require.ErrorAs(t, got.err, &te)
				require.Equal(t, seen.State, te.State)
			}
			require.Empty(t, changes)
		})
	}
}

// TestTransitionRacingAWinnerAtStoreLevel runs each race against
// Store.Transition: an applied loser wrote on top of the winner's row and
// reports the winner's state as From; a refused one reports either the
// winner's row or the row as it was before the winner, never anything else.
func TestTransitionRacingAWinnerAtStoreLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range raceCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				res tasklife.TransitionResult
				err error
			}
			var store *pgstore.Store
			before, won, got := race(t, tc.initial, tc.winner, tc.waits, func(guid string) result {
				res, err := store.Transition(context.Background(), request(tc.loser)(guid))
				return result{res, err}
			}, func(s *pgstore.Store) { store = s })
			require.NoError(t, got.err)
			if got.res.Applied {
				require.True(t, tc.waits, "a loser whose guard fails on the old row writes nothing")
				require.Equal(t, won.State, got.res.From)
				require.Equal(t, request(tc.loser)("").To, got.res.Task.State)
				require.Equal(t, won.Version+1, got.res.Task.Version)
				return
			}
			if !tc.waits {
				require.Equal(t, before, got.res.Task, "the winner had not committed")
				return
			}
			if got.res.Task.Version == won.Version {
				require.Equal(t, won, got.res.Task)
			} else {
				require.Equal(t, before, got.res.Task, "neither the winner's row nor the one before it")
			}
		})
	}
}

// request builds the TransitionRequest the Service sends for ev.
func request(ev tasklife.Event) func(guid string) tasklife.TransitionRequest {
	reason := ""
	switch ev {
	case tasklife.EventFail:
		reason = "boom"
	case tasklife.EventCanceled:
		reason = tasklife.ReasonCanceled
	}
	return func(guid string) tasklife.TransitionRequest { return storetest.Request(guid, ev, reason) }
}
