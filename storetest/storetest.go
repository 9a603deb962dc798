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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}

// Contract is the transition table of CONTRACT.md section 1, written out
// independently of the library's own declaration so that the suite checks
// the contract, not the code: Contract[event][from] is the target state of
// a write. A missing entry is a no-op when from is the event's target, and
// an invalid transition otherwise.
var Contract = map[tasklife.Event]map[tasklife.State]tasklife.State{
	tasklife.EventStart:    {tasklife.StatePending: tasklife.StateRunning},
	tasklife.EventCancel:   {tasklife.StatePending: tasklife.StateCanceling, tasklife.StateRunning: tasklife.StateCanceling},
	tasklife.EventSucceed:  {tasklife.StateRunning: tasklife.StateSucceeded, tasklife.StateCanceling: tasklife.StateSucceeded},
	tasklife.EventFail:     {tasklife.StatePending: tasklife.StateFailed, tasklife.StateRunning: tasklife.StateFailed, tasklife.StateCanceling: tasklife.StateFailed},
	tasklife.EventCanceled: {tasklife.StateCanceling: tasklife.StateFailed},
}

// contractTarget is the state every row of an event leads to.
func contractTarget(ev tasklife.Event) tasklife.State {
	for _, to := range Contract[ev] {
		return to
	}
	panic("no rows for " + ev)
}

// Expect returns what the contract says ev does in state from.
func Expect(ev tasklife.Event, from tasklife.State) (lifecycle.Outcome, tasklife.State) {
	if to, ok := Contract[ev][from]; ok {
		return lifecycle.Apply, to
	}
	if contractTarget(ev) == from {
		return lifecycle.NoOp, from
	}
	return lifecycle.Invalid, from
}

// reason is the failure reason the suite uses for fail events.
const reason = "Exited with status 1"

func expectedReason(ev tasklife.Event) string {
	if ev == tasklife.EventCanceled {
		return tasklife.ReasonCanceled
	}
	return reason
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

func testCreate(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	disk := int64(2048)
	logRate := int64(4096)
	before := time.Now().Add(-time.Second)
	task, err := b.svc.Create(b.ctx, tasklife.NewTask{
		AppGUID:                      b.app,
		Name:                         "migrate",
		Command:                      "bin/rake db:migrate",
		User:                         "vcap",
		MemoryInMB:                   512,
		DiskInMB:                     &disk,
		DropletGUID:                  "droplet-1",
		LogRateLimitInBytesPerSecond: &logRate,
		Labels:                       map[string]string{"team": "core"},
		Annotations:                  map[string]string{"note": "nightly"},
	})
	require.NoError(t, err)

	id, err := uuid.Parse(task.GUID)
	require.NoError(t, err, "guid must be a UUID")
	require.Equal(t, uuid.Version(4), id.Version(), "guid must be a UUID v4")
	require.Equal(t, strings.ToLower(task.GUID), task.GUID)
	require.Equal(t, b.app, task.AppGUID)
	require.Equal(t, int64(1), task.SequenceID)
	require.Equal(t, "migrate", task.Name)
	require.Equal(t, "bin/rake db:migrate", task.Command)
	require.Equal(t, "vcap", task.User)
	require.Equal(t, tasklife.StatePending, task.State)
	require.Equal(t, int64(512), task.MemoryInMB)
	require.NotNil(t, task.DiskInMB)
	require.Equal(t, int64(2048), *task.DiskInMB)
	require.Equal(t, int64(4096), task.LogRateLimitInBytesPerSecond)
	require.Equal(t, "droplet-1", task.DropletGUID)
	require.Empty(t, task.FailureReason)
	require.Equal(t, map[string]string{"team": "core"}, task.Labels)
	require.Equal(t, map[string]string{"note": "nightly"}, task.Annotations)
	require.Equal(t, int64(1), task.Version)
	require.True(t, task.CreatedAt.Equal(task.UpdatedAt), "created_at and updated_at start equal")
	require.True(t, task.CreatedAt.After(before), "created_at is now, got %v", task.CreatedAt)
	require.Equal(t, time.UTC, task.CreatedAt.Location(), "timestamps are UTC")
	require.Equal(t, task, b.get(t, task.GUID), "Get returns what Create returned")

	// Defaults: a generated name, unlimited log rate, no disk.
	task, err = b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: b.app, Command: "true"})
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{8}$`, task.Name)
	require.Equal(t, int64(-1), task.LogRateLimitInBytesPerSecond)
	require.Nil(t, task.DiskInMB)
	require.Empty(t, task.Labels)
	require.Equal(t, int64(2), task.SequenceID)

	// Bad input is refused with a typed error and creates nothing.
	bad := []tasklife.NewTask{
		{Command: "true"},
		{AppGUID: b.app},
		{AppGUID: b.app, Command: "true", MemoryInMB: -1},
		{AppGUID: b.app, Command: "true", Name: "bad\xff"},
		{AppGUID: b.app, Command: "nul\x00"},
	}
	for _, nt := range bad {
		_, err := b.svc.Create(b.ctx, nt)
		require.ErrorIs(t, err, tasklife.ErrInvalidInput, "%+v", nt)
		var ie *tasklife.InputError
		require.ErrorAs(t, err, &ie)
	}
	page, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: []string{b.app}})
	require.NoError(t, err)
	require.Equal(t, 2, page.TotalResults, "refused creates must not store anything")
}

func testSequenceIDsPerApp(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	other := uuid.NewString()
	for i := int64(1); i <= 3; i++ {
		a := b.create(t)
		require.Equal(t, i, a.SequenceID)
		o, err := b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: other, Command: "true"})
		require.NoError(t, err)
		require.Equal(t, i, o.SequenceID, "sequence ids count per app")
	}
}

func testConcurrentCreateSequenceIDs(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	const n = 40
	ids := make([]int64, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		task, err := b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: b.app, Command: "true"})
		errs[i] = err
		if err == nil {
			ids[i] = task.SequenceID
		}
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	slices.Sort(ids)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	require.Equal(t, want, ids, "concurrent creates for one app get 1..N, no gap, no duplicate")
}

func testTransitionTable(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	for _, from := range tasklife.States() {
		for _, ev := range tasklife.Events() {
			t.Run(fmt.Sprintf("%s_on_%s", ev, from), func(t *testing.T) {
				task := b.createIn(t, from)
				before := len(b.obs.list())
				got, err := b.svc.Apply(b.ctx, task.GUID, ev, reason)
				after := b.get(t, task.GUID)
				outcome, to := Expect(ev, from)
				switch outcome {
				case lifecycle.Apply:
					require.NoError(t, err)
					require.Equal(t, to, got.State)
					require.Equal(t, task.Version+1, got.Version, "a write increments version by one")
					require.True(t, got.UpdatedAt.After(task.UpdatedAt), "a write moves updated_at forward")
					require.True(t, got.CreatedAt.Equal(task.CreatedAt), "created_at never changes")
					if to == tasklife.StateFailed {
						require.Equal(t, expectedReason(ev), got.FailureReason)
					} else {
						require.Empty(t, got.FailureReason, "failure_reason is empty unless FAILED")
					}
					require.Equal(t, got, after, "the returned task is the stored task")
					changes := b.obs.list()[before:]
					require.Len(t, changes, 1, "one observer call per committed transition")
					require.Equal(t, from, changes[0].From)
					require.Equal(t, to, changes[0].To)
					require.Equal(t, ev, changes[0].Event)
					require.Equal(t, got, changes[0].Task)
				case lifecycle.NoOp:
					require.NoError(t, err, "an event whose target is the current state is an idempotent no-op")
					require.Equal(t, task, got, "a no-op returns the current task unchanged")
					require.Equal(t, task, after, "a no-op writes nothing: no version or updated_at bump")
					require.Len(t, b.obs.list(), before, "a no-op calls no observer")
				case lifecycle.Invalid:
					require.ErrorIs(t, err, tasklife.ErrInvalidTransition)
					var te *tasklife.TransitionError
					require.ErrorAs(t, err, &te)
					require.Equal(t, ev, te.Event)
					require.Equal(t, from, te.State)
					require.Equal(t, task.GUID, te.GUID)
					if ev == tasklife.EventCancel {
						require.EqualError(t, err, fmt.Sprintf("Task state is %s and therefore cannot be canceled", from))
					}
					require.Nil(t, got)
					require.Equal(t, task, after, "an invalid transition writes nothing")
					require.Len(t, b.obs.list(), before, "an invalid transition calls no observer")
				}
			})
		}
	}
}

func testObservers(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var logged bytes.Buffer
	var logMu sync.Mutex
	b.svc = tasklife.New(b.store, tasklife.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, nil))))
	var later []tasklife.Change
	b.svc.Observe(func(context.Context, tasklife.Change) { panic("observer bug") })
	b.svc.Observe(func(_ context.Context, c tasklife.Change) {
		c.Task.Labels = map[string]string{"mutated": "by observer"}
		c.Task.State = tasklife.StateFailed
		later = append(later, c)
	})
	task := b.create(t)
	got, err := b.svc.Start(b.ctx, task.GUID)
	require.NoError(t, err, "a panicking observer does not break the operation")
	require.Equal(t, tasklife.StateRunning, got.State)
	require.Empty(t, got.Labels, "observers cannot change the caller's task")
	require.Len(t, later, 1, "observers after a panicking one still run")
	logMu.Lock()
	require.Contains(t, logged.String(), "observer panicked", "a recovered panic is logged")
	require.Contains(t, logged.String(), task.GUID)
	logMu.Unlock()
	stored := b.get(t, task.GUID)
	require.Equal(t, tasklife.StateRunning, stored.State, "observers cannot change the stored task")
	require.Empty(t, stored.Labels)
	require.Equal(t, got, stored)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func testNotFound(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	missing := uuid.NewString()
	_, err := b.svc.Get(b.ctx, missing)
	require.ErrorIs(t, err, tasklife.ErrNotFound)
	_, err = b.store.Get(b.ctx, missing)
	require.ErrorIs(t, err, tasklife.ErrNotFound)
	for _, ev := range tasklife.Events() {
		_, err := b.svc.Apply(b.ctx, missing, ev, reason)
		require.ErrorIs(t, err, tasklife.ErrNotFound, "%s on a missing task", ev)
	}
	_, err = b.svc.Cancel(b.ctx, "not-a-uuid")
	require.ErrorIs(t, err, tasklife.ErrNotFound, "a malformed guid is simply not found")
	require.Empty(t, b.obs.list())
}

func testAliasing(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	labels := map[string]string{"a": "1"}
	disk := int64(10)
	in := &tasklife.Task{
		AppGUID: b.app, Name: "n", Command: "true", LogRateLimitInBytesPerSecond: -1,
		DiskInMB: &disk, Labels: labels, Annotations: map[string]string{"x": "y"},
	}
	task, err := b.store.Create(b.ctx, in)
	require.NoError(t, err)
	labels["a"] = "changed"
	labels["b"] = "added"
	in.Annotations["x"] = "changed"
	disk = 99
	stored := b.get(t, task.GUID)
	require.Equal(t, map[string]string{"a": "1"}, stored.Labels, "Create copies labels in")
	require.Equal(t, map[string]string{"x": "y"}, stored.Annotations, "Create copies annotations in")
	require.Equal(t, int64(10), *stored.DiskInMB, "Create copies disk_in_mb in")

	for name, out := range map[string]func() *tasklife.Task{
		"Create": func() *tasklife.Task { return task },
		"Get":    func() *tasklife.Task { return b.get(t, task.GUID) },
		"Transition": func() *tasklife.Task {
			got, err := b.svc.Start(b.ctx, task.GUID) // a no-op after the first call
			require.NoError(t, err)
			return got
		},
		"List": func() *tasklife.Task {
			page, err := b.svc.List(b.ctx, tasklife.ListQuery{GUIDs: []string{task.GUID}})
			require.NoError(t, err)
			require.Len(t, page.Tasks, 1)
			return page.Tasks[0]
		},
	} {
		got := out()
		got.Labels["a"] = "mutated by " + name
		got.Annotations["x"] = "mutated by " + name
		*got.DiskInMB = -5
		got.State = tasklife.StateFailed
		stored := b.get(t, task.GUID)
		require.Equal(t, map[string]string{"a": "1"}, stored.Labels, "%s copies labels out", name)
		require.Equal(t, map[string]string{"x": "y"}, stored.Annotations, "%s copies annotations out", name)
		require.Equal(t, int64(10), *stored.DiskInMB, "%s copies disk_in_mb out", name)
		require.NotEqual(t, tasklife.StateFailed, stored.State, "%s returns a copy", name)
	}
}

func testFailureReason(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	cases := []struct {
		name, in, want string
	}{
		{"short", "boom", "boom"},
		{"exactly 1024", strings.Repeat("a", 1024), strings.Repeat("a", 1024)},
		{"ascii over", strings.Repeat("a", 2000), strings.Repeat("a", 1024)},
		// 1023 bytes then a 2-byte rune: the rune would straddle the limit.
		{"rune boundary", strings.Repeat("a", 1023) + "é" + "tail", strings.Repeat("a", 1023)},
		{"multibyte", strings.Repeat("€", 400), strings.Repeat("€", 341)},
	}
	for _, tc := range cases {
		task := b.createIn(t, tasklife.StateRunning)
		got, err := b.svc.Fail(b.ctx, task.GUID, tc.in)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got.FailureReason, tc.name)
		require.LessOrEqual(t, len(got.FailureReason), tasklife.MaxFailureReasonBytes)
		require.True(t, utf8.ValidString(got.FailureReason), tc.name)
		require.Equal(t, tc.want, b.get(t, task.GUID).FailureReason, tc.name)
	}

	task := b.createIn(t, tasklife.StateRunning)
	for _, bad := range []string{"", "bad\xff", "nul\x00"} {
		_, err := b.svc.Fail(b.ctx, task.GUID, bad)
		require.ErrorIs(t, err, tasklife.ErrInvalidInput, "reason %q", bad)
	}
	require.Equal(t, task, b.get(t, task.GUID), "a refused fail changes nothing")
}

func testCanceledContext(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	task := b.createIn(t, tasklife.StateRunning)
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	_, err := b.svc.Cancel(ctx, task.GUID)
	require.ErrorIs(t, err, context.Canceled)
	_, err = b.svc.Create(ctx, tasklife.NewTask{AppGUID: b.app, Command: "true"})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, task, b.get(t, task.GUID), "an operation with a done context changes nothing")
	page, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: []string{b.app}})
	require.NoError(t, err)
	require.Equal(t, 1, page.TotalResults)
	// The same service keeps working: no FSM wedged by a cancelled context.
	got, err := b.svc.Cancel(b.ctx, task.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StateCanceling, got.State)
}

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

// testRacingEvents fires every event at once at one task, many times, and
// checks that some serial order of the events explains each outcome and the
// final state.
func testRacingEvents(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	events := tasklife.Events()
	for _, initial := range []tasklife.State{tasklife.StatePending, tasklife.StateRunning, tasklife.StateCanceling} {
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
				out, to := Expect(events[i], s)
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

// listFixture creates, in this order: three tasks of app A named "a", "b",
// "a" and two of app B named "a", "c"; then starts A's second task and fails
// B's first.
func listFixture(t *testing.T, b *bundle) (appA, appB string, tasks []*tasklife.Task) {
	t.Helper()
	appA, appB = uuid.NewString(), uuid.NewString()
	for _, spec := range []struct{ app, name string }{{appA, "a"}, {appA, "b"}, {appA, "a"}, {appB, "a"}, {appB, "c"}} {
		task, err := b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: spec.app, Name: spec.name, Command: "true"})
		require.NoError(t, err)
		tasks = append(tasks, task)
	}
	var err error
	tasks[1], err = b.svc.Start(b.ctx, tasks[1].GUID)
	require.NoError(t, err)
	tasks[3], err = b.svc.Fail(b.ctx, tasks[3].GUID, reason)
	require.NoError(t, err)
	return appA, appB, tasks
}

func guids(tasks []*tasklife.Task) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.GUID
	}
	return out
}

func testListFilters(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	appA, appB, tasks := listFixture(t, b)
	both := []string{appA, appB}
	pick := func(is ...int) []string {
		var out []string
		for _, i := range is {
			out = append(out, tasks[i].GUID)
		}
		return out
	}
	cases := []struct {
		name string
		q    tasklife.ListQuery
		want []string
	}{
		{"app A", tasklife.ListQuery{AppGUIDs: []string{appA}}, pick(0, 1, 2)},
		{"both apps", tasklife.ListQuery{AppGUIDs: both}, pick(0, 1, 2, 3, 4)},
		{"names", tasklife.ListQuery{AppGUIDs: both, Names: []string{"a"}}, pick(0, 2, 3)},
		{"two names", tasklife.ListQuery{AppGUIDs: both, Names: []string{"b", "c"}}, pick(1, 4)},
		{"states", tasklife.ListQuery{AppGUIDs: both, States: []tasklife.State{tasklife.StatePending}}, pick(0, 2, 4)},
		{"two states", tasklife.ListQuery{AppGUIDs: both, States: []tasklife.State{tasklife.StateRunning, tasklife.StateFailed}}, pick(1, 3)},
		{"guids", tasklife.ListQuery{GUIDs: pick(4, 0, 4)}, pick(0, 4)},
		{"guids and app", tasklife.ListQuery{GUIDs: pick(0, 3), AppGUIDs: []string{appB}}, pick(3)},
		{"unknown guid", tasklife.ListQuery{GUIDs: []string{uuid.NewString()}}, nil},
		{"sequence ids", tasklife.ListQuery{AppGUIDs: []string{appA}, SequenceIDs: []int64{1, 3}}, pick(0, 2)},
		{"sequence id of other app", tasklife.ListQuery{AppGUIDs: []string{appB}, SequenceIDs: []int64{3}}, nil},
		{"all filters", tasklife.ListQuery{AppGUIDs: []string{appA}, Names: []string{"a"}, States: []tasklife.State{tasklife.StatePending}, SequenceIDs: []int64{3}}, pick(2)},
	}
	for _, tc := range cases {
		page, err := b.svc.List(b.ctx, tc.q)
		require.NoError(t, err, tc.name)
		require.Equal(t, len(tc.want), page.TotalResults, tc.name)
		require.Equal(t, tc.want, append([]string(nil), guids(page.Tasks)...), tc.name)
		for _, got := range page.Tasks {
			require.Equal(t, b.get(t, got.GUID), got, "%s: listed tasks are complete", tc.name)
		}
	}

	for name, q := range map[string]tasklife.ListQuery{
		"per_page 0 is the default, 5001 too many": {PerPage: 5001},
		"negative page":               {Page: -1},
		"sequence ids without an app": {SequenceIDs: []int64{1}},
		"sequence ids with two apps":  {SequenceIDs: []int64{1}, AppGUIDs: both},
		"unknown state":               {States: []tasklife.State{"DONE"}},
		"unknown order":               {OrderBy: "name"},
	} {
		_, err := b.svc.List(b.ctx, q)
		require.ErrorIs(t, err, tasklife.ErrInvalidInput, name)
	}
}

func testListOrder(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var tasks []*tasklife.Task
	for range 4 {
		tasks = append(tasks, b.create(t))
		time.Sleep(2 * time.Millisecond) // distinct created_at even at millisecond clocks
	}
	// Touch them in the order 2, 0 so updated_at orders 1, 3, 2, 0.
	for _, i := range []int{2, 0} {
		var err error
		tasks[i], err = b.svc.Start(b.ctx, tasks[i].GUID)
		require.NoError(t, err)
		time.Sleep(2 * time.Millisecond)
	}
	in := func(is ...int) []string {
		out := make([]string, len(is))
		for k, i := range is {
			out[k] = tasks[i].GUID
		}
		return out
	}
	app := []string{b.app}
	cases := []struct {
		q    tasklife.ListQuery
		want []string
	}{
		{tasklife.ListQuery{AppGUIDs: app}, in(0, 1, 2, 3)},
		{tasklife.ListQuery{AppGUIDs: app, OrderBy: tasklife.OrderByCreatedAt}, in(0, 1, 2, 3)},
		{tasklife.ListQuery{AppGUIDs: app, OrderBy: tasklife.OrderByCreatedAt, Descending: true}, in(3, 2, 1, 0)},
		{tasklife.ListQuery{AppGUIDs: app, OrderBy: tasklife.OrderByUpdatedAt}, in(1, 3, 2, 0)},
		{tasklife.ListQuery{AppGUIDs: app, OrderBy: tasklife.OrderByUpdatedAt, Descending: true}, in(0, 2, 3, 1)},
	}
	for _, tc := range cases {
		page, err := b.svc.List(b.ctx, tc.q)
		require.NoError(t, err)
		require.Equal(t, tc.want, guids(page.Tasks), "%+v", tc.q)
	}
}

func testListPagination(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var all []string
	for range 7 {
		all = append(all, b.create(t).GUID)
	}
	app := []string{b.app}
	var seen []string
	for page := 1; page <= 4; page++ {
		p, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: app, Page: page, PerPage: 3})
		require.NoError(t, err)
		require.Equal(t, 7, p.TotalResults, "the total counts every page")
		require.NotNil(t, p.Tasks)
		switch page {
		case 1, 2:
			require.Len(t, p.Tasks, 3)
		case 3:
			require.Len(t, p.Tasks, 1)
		case 4:
			require.Empty(t, p.Tasks, "a page past the end is empty, not an error")
		}
		seen = append(seen, guids(p.Tasks)...)
	}
	require.Equal(t, all, seen, "pages partition the list in order")

	p, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: app})
	require.NoError(t, err)
	require.Len(t, p.Tasks, 7, "the default page size holds them all")
	p, err = b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: app, Page: 1 << 40, PerPage: tasklife.MaxPerPage})
	require.NoError(t, err)
	require.Empty(t, p.Tasks, "a huge page number is just past the end")
	require.Equal(t, 7, p.TotalResults)
	p, err = b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: []string{uuid.NewString()}})
	require.NoError(t, err)
	require.Equal(t, 0, p.TotalResults)
	require.NotNil(t, p.Tasks, "an empty page is an empty slice")
}
