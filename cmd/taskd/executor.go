package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/runner"
)

// errShuttingDown refuses new tasks once shutdown has begun.
var errShuttingDown = fmt.Errorf("%w: taskd is shutting down", tasklife.ErrUnavailable)

// ownerKey is the annotation that names the taskd instance a task was
// created through, on a store shared by several. Clients may not set it.
// With -affinity, only that instance runs the task.
const ownerKey = "taskd.tasklife.dev/instance"

// reservedPrefix is the annotation key prefix taskd keeps for itself.
const reservedPrefix = "taskd.tasklife.dev/"

// stopSlack is how long a stop keeps trying to record outcomes the store
// will not take, once the tasks have stopped; what is left then goes to the
// state directory for the next start. It keeps a shutdown within the grace
// period plus shutdownSlack.
const stopSlack = shutdownSlack / 2

// executor is taskd's host for the library's runner: it accepts tasks
// (naming this instance in them on a shared store), runs their commands
// through shell, and stops them at shutdown. Set its fields before the
// first Create or start.
type executor struct {
	svc        *tasklife.Service
	log        *slog.Logger
	shell      *shell
	grace      time.Duration
	maxRunning int

	// instance, when set, is written into each new task's ownerKey
	// annotation; with affinity, the runner claims only the tasks that
	// carry it.
	instance string
	affinity bool
	// owner names the runner in the store (see runner.Config.Owner);
	// leases holds the runner's Lease, CancelDeadline, PendingExpiry and
	// MaxRunTime.
	owner  string
	leases runner.Config
	// hardStop is the runner's HardStop; nil is shell.kill (SIGKILL to the
	// task's process group). Tests replace it with one that cannot kill.
	hardStop func(*tasklife.Task)
	// keepPending leaves queued tasks PENDING at shutdown, for the next
	// start of this instance to run, instead of canceling them: on a
	// durable store they were accepted and must not be lost.
	keepPending bool
	// logRate, when set, is the log rate limit of a task created without
	// one (taskd's -log-rate-limit).
	logRate *int64
	// unrecorded are outcomes the last run of this instance could not
	// record; they are recorded first.
	unrecorded []runner.Outcome
	// changes, when set, hears of the changes Notify is told of.
	changes *changeFeed

	closed atomic.Bool
	once   sync.Once
	runner *runner.Runner
	stop   context.CancelFunc
	done   chan error // the runner's result
}

// newExecutor returns an executor for svc; it starts with start or the
// first Create.
func newExecutor(svc *tasklife.Service, log *slog.Logger, grace time.Duration, maxRunning int) *executor {
	return &executor{svc: svc, log: log, shell: newShell(log, grace), grace: grace, maxRunning: max(maxRunning, 1)}
}

// start starts the runner, once.
func (e *executor) start() {
	e.once.Do(func() {
		cfg := runner.Config{
			MaxRunning:          e.maxRunning,
			Grace:               e.grace,
			HardStop:            e.hardStop,
			Owner:               e.owner,
			Lease:               e.leases.Lease,
			CancelDeadline:      e.leases.CancelDeadline,
			PendingExpiry:       e.leases.PendingExpiry,
			MaxRunTime:          e.leases.MaxRunTime,
			CancelPendingOnStop: !e.keepPending,
			StopTimeout:         stopSlack,
			Unrecorded:          e.unrecorded,
			Logger:              e.log,
		}
		if cfg.HardStop == nil {
			cfg.HardStop = e.shell.kill
		}
		if e.affinity && e.instance != "" {
			cfg.Accept = e.accepts
		}
		e.runner = runner.New(e.svc, e.shell.work, cfg)
		if st := e.shell.state; st != nil {
			// A process record is kept until its task's outcome is stored.
			e.svc.Observe(func(_ context.Context, c tasklife.Change) {
				if c.To.Terminal() {
					st.remove(c.Task.GUID, e.log.With("task_guid", c.Task.GUID))
				}
			})
		}
		ctx, stop := context.WithCancel(context.Background())
		e.stop, e.done = stop, make(chan error, 1)
		go func() { e.done <- e.runner.Run(ctx) }()
	})
}

// accepts says which tasks this instance runs with -affinity: those
// created through it.
func (e *executor) accepts(t *tasklife.Task) bool {
	return t.Annotations[ownerKey] == e.instance
}

// Create stores a new task; a runner (this instance's first, being the
// first to hear of it) runs it when a slot is free, in creation order.
func (e *executor) Create(ctx context.Context, nt tasklife.NewTask) (*tasklife.Task, error) {
	e.start()
	if e.closed.Load() {
		return nil, errShuttingDown
	}
	if nt.LogRateLimitInBytesPerSecond == nil {
		nt.LogRateLimitInBytesPerSecond = e.logRate
	}
	return e.svc.Create(ctx, e.withOwner(nt))
}

// withOwner returns nt with this instance named in it, if it has a name,
// replacing any name the caller gave.
func (e *executor) withOwner(nt tasklife.NewTask) tasklife.NewTask {
	if e.instance == "" {
		return nt
	}
	a := make(map[string]string, len(nt.Annotations)+1)
	maps.Copy(a, nt.Annotations)
	a[ownerKey] = e.instance
	nt.Annotations = a
	return nt
}

// Notify tells the runner of a change committed elsewhere (the database
// listener calls it): a cancel, a task another instance's sweep ended. It
// is idempotent and never blocks.
func (e *executor) Notify(guid string, state tasklife.State) {
	e.start()
	e.runner.Notify(guid, state)
	e.changes.bump()
}

// Shutdown refuses new tasks and stops the runner: every running task is
// cancelled (each ends FAILED "task was cancelled", or SUCCEEDED if it
// finished first), queued ones too unless keepPending, and their outcomes
// are recorded. Outcomes the store would not take are returned in a
// *runner.UnrecordedError, for the state directory. When ctx ends first,
// what still runs is killed and ctx's error returned.
func (e *executor) Shutdown(ctx context.Context) error {
	e.closed.Store(true)
	e.start()
	e.stop()
	var err error
	select {
	case err = <-e.done:
		e.done <- err
		// The runner does not wait for work that outlived its grace; the
		// host does, since HardStop's SIGKILL makes it return at once.
		if werr := e.shell.wait(ctx); werr == nil {
			return err
		}
	case <-ctx.Done():
	}
	e.shell.killAll()
	select {
	case err = <-e.done:
		e.done <- err
	case <-time.After(shutdownSlack):
	}
	killed, cancel := context.WithTimeout(context.Background(), shutdownSlack)
	defer cancel()
	_ = e.shell.wait(killed)
	return errors.Join(ctx.Err(), err)
}
