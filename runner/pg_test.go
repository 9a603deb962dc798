package runner_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
	"github.com/tasklife/tasklife/runner"
)

// instanceLabel names the instance whose runner runs a task: runners on
// one database split the tasks with Accept by it.
const instanceLabel = "instance"

// instance is one process of a host on a shared PostgreSQL database: a pool,
// a Store, a Service and a runner of its own, its runner told of other
// instances' changes by its own Store.Listen.
type instance struct {
	name  string
	store *pgstore.Store
	svc   *tasklife.Service
	r     *runner.Runner
	gate  *gate
	mu    sync.Mutex
	ran   map[string]string // guid -> the instance label of each task whose work ran here
}

// twoInstances starts instances "a" and "b" on one new schema, each
// listening; it returns once both listeners listen. Their runners poll
// hourly, so a change made through the other instance reaches a runner
// through Listen and Notify or not at all.
func twoInstances(t *testing.T, cfg runner.Config) (a, b *instance) {
	t.Helper()
	storeA := pgtest.Store(t) // skips without a database (fails with CI=true)
	storeB, err := pgstore.New(pgtest.Pool(t), pgstore.WithSchema(storeA.Schema()))
	require.NoError(t, err)
	return startInstance(t, "a", storeA, cfg), startInstance(t, "b", storeB, cfg)
}

func startInstance(t *testing.T, name string, store *pgstore.Store, cfg runner.Config) *instance {
	t.Helper()
	in := &instance{name: name, store: store, svc: tasklife.New(store), gate: newGate(), ran: map[string]string{}}
	cfg.Accept = func(t *tasklife.Task) bool { return t.Labels[instanceLabel] == name }
	cfg.PollInterval = time.Hour
	cfg.Logger = slog.New(slog.DiscardHandler)
	in.r = runner.New(in.svc, in.work, cfg)
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- in.r.Run(ctx) }()
	// Registered after the pools, so it runs before they close and the
	// schema is dropped.
	t.Cleanup(func() {
		stop()
		select {
		case err := <-ran:
			require.NoError(t, err, "instance %s's Run", name)
		case <-time.After(waitFor):
			t.Errorf("instance %s's Run did not return after its context was done", name)
		}
	})
	listen(t, store, in.r)
	return in
}

// listen wires store's Listen to r.Notify, as a host does, and returns once
// the listener listens, stopping it when tb ends. It knows the listener
// listens when it hands over a probe: a task left CANCELING, which Listen's
// first reconciliation, run once it LISTENs, finds. No runner accepts the
// probe.
func listen(tb testing.TB, store *pgstore.Store, r *runner.Runner) {
	tb.Helper()
	svc := tasklife.New(store) // no runner observes it
	probe, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "probe", Command: "x",
		Labels: map[string]string{instanceLabel: "probe"}})
	require.NoError(tb, err)
	_, err = svc.Cancel(context.Background(), probe.GUID)
	require.NoError(tb, err)

	ctx, stop := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() {
		done <- store.Listen(ctx, pgstore.ListenOptions{
			Handle: func(_ context.Context, n pgstore.Notification) {
				r.Notify(n.GUID, n.To) // a host's whole wiring
				if n.GUID == probe.GUID {
					once.Do(func() { close(ready) })
				}
			},
			// Only the reconciliation after connecting: a cancel the
			// notification did not bring is not brought by this either.
			ReconcileInterval: time.Hour,
			OnError:           func(_ context.Context, err error) { tb.Logf("listener: %v", err) },
		})
	}()
	tb.Cleanup(func() {
		stop()
		<-done
	})
	select {
	case <-ready:
	case <-time.After(waitFor):
		tb.Fatal("the listener never listened")
	}
}

// work runs gate's work, after noting where it ran; tasks named "quick"
// succeed at once.
func (in *instance) work(ctx context.Context, t *tasklife.Task) error {
	in.mu.Lock()
	in.ran[t.GUID] = t.Labels[instanceLabel]
	in.mu.Unlock()
	if t.Name == "quick" {
		return nil
	}
	return in.gate.work(ctx, t)
}

func (in *instance) didRun(guid string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	_, ok := in.ran[guid]
	return ok
}

// create creates a task through this instance's Service for the runner of
// owner.
func (in *instance) create(t *testing.T, name string, owner *instance) *tasklife.Task {
	t.Helper()
	task, err := in.svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Name: name, Command: "work",
		Labels: map[string]string{instanceLabel: owner.name}})
	require.NoError(t, err)
	return task
}

func (in *instance) cancel(t *testing.T, guid string) {
	t.Helper()
	_, err := in.svc.Cancel(context.Background(), guid)
	require.NoError(t, err)
}

// waitState waits until the task is in state, as the database has it.
func (in *instance) waitState(t *testing.T, guid string, state tasklife.State) *tasklife.Task {
	t.Helper()
	var task *tasklife.Task
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := in.store.Get(context.Background(), guid)
		if assert.NoError(c, err) && assert.Equal(c, state, got.State) {
			task = got
		}
	}, waitFor, time.Millisecond, "task %s never reached %s", guid, state)
	return task
}

// Two instances on one database, each running its own tasks: a cancel made
// through either instance stops the work wherever it runs, and ends a
// PENDING task before its work ever runs, whether its runner has queued it
// or never heard of it.
func TestCancelAcrossInstances(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t, runner.Config{MaxRunning: 1})
	for _, dir := range []struct{ owner, other *instance }{{a, b}, {b, a}} {
		owner, other := dir.owner, dir.other
		t.Run("owner "+owner.name, func(t *testing.T) {
			// busy holds the owner's one slot, so the next two stay PENDING.
			busy := owner.create(t, "busy", owner)
			owner.gate.awaitStart(t, busy.GUID)
			queued := owner.create(t, "queued", owner) // the owner's runner queues it
			unheard := other.create(t, "unheard", owner)

			for _, task := range []*tasklife.Task{queued, unheard} {
				other.cancel(t, task.GUID)
				got := owner.waitState(t, task.GUID, tasklife.StateFailed)
				require.Equal(t, tasklife.ReasonCanceled, got.FailureReason, task.Name)
			}

			other.cancel(t, busy.GUID)
			got := owner.waitState(t, busy.GUID, tasklife.StateFailed)
			require.Equal(t, tasklife.ReasonCanceled, got.FailureReason)
			require.ErrorIs(t, owner.gate.cause(busy.GUID), runner.ErrCanceled)

			// The slot is free again: the owner's tasks run.
			quick := owner.create(t, "quick", owner)
			owner.waitState(t, quick.GUID, tasklife.StateSucceeded)

			for _, task := range []*tasklife.Task{queued, unheard} {
				require.False(t, owner.didRun(task.GUID), "the work of %s, cancelled while PENDING, ran", task.Name)
			}
		})
	}
	for _, in := range []*instance{a, b} {
		in.mu.Lock()
		for guid, label := range in.ran {
			require.Equal(t, in.name, label, "instance %s ran %s, which is not its own", in.name, guid)
		}
		in.mu.Unlock()
	}
}
