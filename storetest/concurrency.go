package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
)

func testConcurrentCancel(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	task := b.createIn(t, tasklife.StateRunning)
	before := len(b.obs.list())
	const n = 32
	results := make([]*tasklife.Task, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		results[i], errs[i] = b.svc.Cancel(b.ctx, task.GUID)
	})
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, tasklife.StateCanceling, results[i].State)
		require.Equal(t, task.Version+1, results[i].Version, "every cancel sees the one write")
	}
	require.Len(t, b.obs.list(), before+1, "exactly one observer call")
	require.Equal(t, task.Version+1, b.get(t, task.GUID).Version, "exactly one write")
}

// testRacingEvents fires every event at once at one task, many times, from
// every state an event leads out of, and checks that some serial order of
// the events explains each outcome and the final state.
func testRacingEvents(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	events := tasklife.Events()
	for _, initial := range tasklife.States() {
		if initial.Terminal() {
			continue // every event is a no-op or invalid: nothing to race
		}
		for round := range 8 {
			task := b.createIn(t, initial)
			applied := make([]bool, len(events))
			outcomes := make([]lifecycle.Outcome, len(events))
			errs := make([]error, len(events))
			var mu sync.Mutex
			svc := tasklife.New(b.store, tasklife.WithObserver(func(_ context.Context, c tasklife.Change) {
				mu.Lock()
				defer mu.Unlock()
				applied[slices.Index(events, c.Event)] = true
			}))
			concurrently(len(events), func(i int) {
				_, errs[i] = svc.Apply(b.ctx, task.GUID, events[i], reason)
			})
			for i := range events {
				switch {
				case errs[i] == nil && applied[i]:
					outcomes[i] = lifecycle.Apply
				case errs[i] == nil:
					outcomes[i] = lifecycle.NoOp
				case errors.Is(errs[i], tasklife.ErrInvalidTransition):
					outcomes[i] = lifecycle.Invalid
				default:
					require.NoError(t, errs[i], "unexpected error for %s", events[i])
				}
			}
			final := b.get(t, task.GUID)
			writes := 0
			for _, a := range applied {
				if a {
					writes++
				}
			}
			require.Equal(t, task.Version+int64(writes), final.Version, "one version per committed write")
			require.True(t, serialOrderExists(initial, events, outcomes, final.State),
				"round %d from %s: outcomes %v and final state %s match no serial order", round, initial, outcomes, final.State)
		}
	}
}

// serialOrderExists reports whether some order of events, applied one at a
// time from initial by the contract, yields exactly outcomes and final.
func serialOrderExists(initial tasklife.State, events []tasklife.Event, outcomes []lifecycle.Outcome, final tasklife.State) bool {
	idx := make([]int, len(events))
	for i := range idx {
		idx[i] = i
	}
	var try func(k int) bool
	try = func(k int) bool {
		if k == len(idx) {
			s := initial
			for _, i := range idx {
				out, to := expect(events[i], s)
				if out != outcomes[i] {
					return false
				}
				s = to
			}
			return s == final
		}
		for j := k; j < len(idx); j++ {
			idx[k], idx[j] = idx[j], idx[k]
			if try(k + 1) {
				return true
			}
			idx[k], idx[j] = idx[j], idx[k]
		}
		return false
	}
	return try(0)
}
