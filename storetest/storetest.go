// Package storetest is the conformance suite every tasklife.Store must pass:
// the stores in this module and a host's own. It checks the contract's
// transition table, idempotency, error contract, aliasing, concurrency and
// listing, and runs rapid property tests against a plain model.
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) tasklife.Store { return mystore.New(t) })
//	}
//
// newStore is called once per subtest and must return an empty store (or one
// whose other tasks belong to other apps: the suite always uses fresh app
// GUIDs); register cleanup with t.Cleanup.
package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

// NewStore returns a fresh store for one test.
type NewStore func(t *testing.T) tasklife.Store

// Run runs the whole conformance suite against stores made by newStore. Its
// subtests run in parallel.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore NewStore)
	}{
		{"Create", testCreate},
		{"SequenceIDsPerApp", testSequenceIDsPerApp},
		{"ConcurrentCreateSequenceIDs", testConcurrentCreateSequenceIDs},
		{"TransitionTable", testTransitionTable},
		{"Observers", testObservers},
		{"NotFound", testNotFound},
		{"Aliasing", testAliasing},
		{"FailureReason", testFailureReason},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentCancel", testConcurrentCancel},
		{"RacingEvents", testRacingEvents},
		{"ListFilters", testListFilters},
		{"ListOrder", testListOrder},
		{"ListPagination", testListPagination},
		{"StateMachine", testStateMachine},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}

// reason is the failure reason the suite uses for fail events.
const reason = "Exited with status 1"

// bundle is what most tests need: a service over a fresh store and a record
// of observer calls.
type bundle struct {
	ctx   context.Context
	store tasklife.Store
	svc   *tasklife.Service
	obs   *recorder
	app   string
}

type recorder struct {
	mu      sync.Mutex
	changes []tasklife.Change
}

func (r *recorder) observe(_ context.Context, c tasklife.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *recorder) list() []tasklife.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

func setup(t *testing.T, newStore NewStore) *bundle {
	t.Helper()
	store := newStore(t)
	rec := &recorder{}
	return &bundle{
		ctx:   context.Background(),
		store: store,
		svc:   tasklife.New(store, tasklife.WithObserver(rec.observe)),
		obs:   rec,
		app:   uuid.NewString(),
	}
}

func (b *bundle) create(t *testing.T) *tasklife.Task {
	t.Helper()
	task, err := b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: b.app, Command: "echo hello"})
	require.NoError(t, err)
	return task
}

// pathTo lists events that take a new task to state s.
func pathTo(s tasklife.State) []tasklife.Event {
	switch s {
	case tasklife.StateRunning:
		return []tasklife.Event{tasklife.EventStart}
	case tasklife.StateCanceling:
		return []tasklife.Event{tasklife.EventStart, tasklife.EventCancel}
	case tasklife.StateSucceeded:
		return []tasklife.Event{tasklife.EventStart, tasklife.EventSucceed}
	case tasklife.StateFailed:
		return []tasklife.Event{tasklife.EventFail}
	}
	return nil
}

// createIn returns a new task in state s.
func (b *bundle) createIn(t *testing.T, s tasklife.State) *tasklife.Task {
	t.Helper()
	task := b.create(t)
	for _, ev := range pathTo(s) {
		var err error
		task, err = b.svc.Apply(b.ctx, task.GUID, ev, reason)
		require.NoError(t, err, "reaching %s with %s", s, ev)
	}
	require.Equal(t, s, task.State)
	return task
}

func (b *bundle) get(t *testing.T, guid string) *tasklife.Task {
	t.Helper()
	task, err := b.store.Get(b.ctx, guid)
	require.NoError(t, err)
	return task
}

// concurrently runs fn(0) .. fn(n-1) in n goroutines released together, and
// waits for all of them.
func concurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}
