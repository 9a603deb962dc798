// Package storetest is the conformance suite every tasklife.Store must pass:
// the stores in this module and a host's own. It checks the contract's
// transition table, idempotency, error contract, aliasing, concurrency and
// listing, and runs rapid property tests against a plain model.
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) tasklife.Store { return mystore.New(t) })
//	}
//
// newStore is called once per subtest and must return an empty store (the
// claim and expiry tests act on every task in it); register cleanup with
// t.Cleanup.
package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
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
		{"ClaimOldestFirst", testClaimOldestFirst},
		{"ClaimGUIDs", testClaimGUIDs},
		{"ConcurrentClaims", testConcurrentClaims},
		{"Renew", testRenew},
		{"Fencing", testFencing},
		{"ExpireLease", testExpireLease},
		{"ExpireCancelDeadline", testExpireCancelDeadline},
		{"ExpirePending", testExpirePending},
		{"ExpireLimit", testExpireLimit},
		{"UpdateMetadata", testUpdateMetadata},
		{"ConcurrentMetadata", testConcurrentMetadata},
		{"MetadataRules", testMetadataRules},
		{"AuditEvents", testAuditEvents},
		{"AuditedCancelRace", testAuditedCancelRace},
		{"ListLabelSelector", testListLabelSelector},
		{"ListTimeFilters", testListTimeFilters},
		{"DeleteEnded", testDeleteEnded},
		{"DeleteEndedPatched", testDeleteEndedPatched},
		{"KeyedCreate", testKeyedCreate},
		{"KeyedTransition", testKeyedTransition},
		{"KeyedCancelReplay", testKeyedCancelReplay},
		{"KeyExpiry", testKeyExpiry},
		{"ConcurrentKeys", testConcurrentKeys},
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

// CreateIn creates nt through svc and walks the new task into state s by
// the shortest path of events the lifecycle allows, and returns the task as
// the last event left it. Fail events carry the reason "Exited with status
// 1". It fails t if no events lead to s (s is unknown), if Create or an
// event fails, or if the task does not end in s.
//
// Tests of a store, of an adapter or of a host use it to put a task in a
// given state before checking what happens there; the path comes from the
// lifecycle's declaration, so a new state needs no change to the tests that
// reach it. Observers registered on svc see every step.
func CreateIn(t testing.TB, svc *tasklife.Service, nt tasklife.NewTask, s tasklife.State) *tasklife.Task {
	t.Helper()
	path := lifecycle.PathTo(string(s))
	if path == nil && s != tasklife.States()[0] {
		t.Fatalf("storetest.CreateIn: no events lead a new task to %q", s)
	}
	task, err := svc.Create(t.Context(), nt)
	require.NoError(t, err)
	for _, ev := range path {
		task, err = svc.Apply(t.Context(), task.GUID, tasklife.Event(ev), reason)
		require.NoError(t, err, "reaching %s with %s", s, ev)
	}
	require.Equal(t, s, task.State, "events %v from a new task", path)
	return task
}

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

// newTask is what the suite creates when the task's fields do not matter.
func (b *bundle) newTask() tasklife.NewTask {
	return tasklife.NewTask{AppGUID: b.app, Command: "echo hello"}
}

func (b *bundle) create(t *testing.T) *tasklife.Task {
	t.Helper()
	task, err := b.svc.Create(b.ctx, b.newTask())
	require.NoError(t, err)
	return task
}

// createIn returns a new task of the bundle's app in state s.
func (b *bundle) createIn(t *testing.T, s tasklife.State) *tasklife.Task {
	t.Helper()
	return CreateIn(t, b.svc, b.newTask(), s)
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
