package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/logname"
	"github.com/tasklife/tasklife/pgstore"
)

// openPostgres connects to the database, migrates the schema (idempotent,
// and safe while other instances do the same) and returns the store and a
// short description of where it is, without credentials.
func openPostgres(ctx context.Context, url, schema string) (*pgstore.Store, *pgxpool.Pool, string, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password and all.
		return nil, nil, "", errors.New("-database-url is not a valid PostgreSQL URL or connection string")
	}
	where := fmt.Sprintf("%s:%d/%s, schema %s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, schema)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, "", err
	}
	store, err := pgstore.New(pool, pgstore.WithSchema(schema))
	if err != nil {
		pool.Close()
		return nil, nil, "", err
	}
	if err := store.Migrate(ctx); err != nil {
		pool.Close()
		return nil, nil, "", fmt.Errorf("PostgreSQL at %s: %w", where, err)
	}
	return store, pool, where, nil
}

// ownerOf names a start of instance in the store: the owner of the tasks
// its runner claims. Each start has a name of its own, so that a start
// never renews the leases of the one before it; they share the prefix
// that recoverTasks finds them by.
func ownerOf(instance string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails.
	return instance + "#" + hex.EncodeToString(b[:])
}

// earlierStart reports whether owner is a start of instance other than
// current.
func earlierStart(owner, instance, current string) bool {
	return owner != current && strings.HasPrefix(owner, instance+"#")
}

// recoverTasks settles the tasks that earlier starts of e's instance left
// RUNNING or CANCELING, but for those whose outcome was kept (known: the
// runner records it). Nothing of those starts runs any more (this start
// holds the state directory's lock), so such a task is over, at once,
// rather than when its lease runs out; mayHaveRun tells one whose command
// may have run (see settle) from one that never got past the gate. It also
// ends the tasks cancelled while PENDING that this instance may run, as
// its runner would, before it serves a request. Other PENDING tasks are
// left to the runners, which claim them.
func recoverTasks(ctx context.Context, svc *tasklife.Service, e *executor, known map[string]bool, mayHaveRun func(guid string) bool, log *slog.Logger) error {
	left, err := listUnfinished(ctx, svc)
	if err != nil {
		return err
	}
	for _, t := range left {
		unclaimed := t.State == tasklife.StateCanceling && t.Owner == "" && (!e.affinity || e.accepts(t))
		if t.State == tasklife.StatePending || known[t.GUID] || !unclaimed && !earlierStart(t.Owner, e.instance, e.owner) {
			continue
		}
		ev, reason := settle(t.State, !unclaimed && mayHaveRun(t.GUID))
		var ended *tasklife.Task
		if unclaimed {
			ended, err = svc.Apply(ctx, t.GUID, ev, reason)
		} else {
			ended, err = svc.ApplyAs(ctx, t.Owner, t.GUID, ev, reason)
		}
		switch {
		case errors.Is(err, tasklife.ErrInvalidTransition) || errors.Is(err, tasklife.ErrNotOwner):
			continue // It ended meanwhile.
		case err != nil:
			return fmt.Errorf("ending task %s: %w", t.GUID, err)
		}
		if ev == tasklife.EventCanceled {
			log.Info("task canceled while this instance was stopped; it never ran",
				"task_guid", t.GUID, "task_name", logname.Short(t.Name), "state", string(ended.State))
			continue
		}
		log.Warn("task was running when this instance stopped: its outcome is unknown",
			"task_guid", t.GUID, "task_name", logname.Short(t.Name), "was", string(t.State), "state", string(ended.State))
	}
	return nil
}

// settle returns the event that ends a RUNNING or CANCELING task whose
// instance stopped. A task whose command may have run has lost its process
// and its outcome is unknown, which is how Cloud Controller reports a task
// whose container vanished. A CANCELING task that cannot have run was
// canceled while queued (taskd keeps queued tasks PENDING at shutdown), so
// its cancel simply takes effect.
//
// A RUNNING task always counts as having run: its process record is written
// before RUNNING is committed and kept until its outcome is stored, so a
// RUNNING task without one lost its record with the state directory, not
// its chance to run.
func settle(state tasklife.State, mayHaveRun bool) (tasklife.Event, string) {
	if state == tasklife.StateCanceling && !mayHaveRun {
		return tasklife.EventCanceled, ""
	}
	return tasklife.EventFail, tasklife.ReasonUnknownOutcome
}

// recoverPasses bounds how often listUnfinished reads the list again
// because it changed while being paged through.
const recoverPasses = 5

// unfinished lists the states a task can still leave.
func unfinished() []tasklife.State {
	var states []tasklife.State
	for _, s := range tasklife.States() {
		if !s.Terminal() {
			states = append(states, s)
		}
	}
	return states
}

// listUnfinished returns the PENDING, RUNNING and CANCELING tasks in
// creation order. Other instances change their tasks meanwhile, which
// shifts the pages; so it pages through again until a whole pass saw one
// total.
func listUnfinished(ctx context.Context, svc *tasklife.Service) ([]*tasklife.Task, error) {
	q := tasklife.ListQuery{
		States:  unfinished(),
		PerPage: tasklife.MaxPerPage,
	}
	found := make(map[string]*tasklife.Task)
	var order []string // first seen first: the list's own creation order
	for range recoverPasses {
		stable := true
		total := -1
		for q.Page = 1; ; q.Page++ {
			page, err := svc.List(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("listing unfinished tasks: %w", err)
			}
			if total >= 0 && page.TotalResults != total {
				stable = false
			}
			total = page.TotalResults
			for _, t := range page.Tasks {
				if _, seen := found[t.GUID]; !seen {
					order = append(order, t.GUID)
				}
				found[t.GUID] = t
			}
			if len(page.Tasks) < q.PerPage {
				break
			}
		}
		if stable {
			break
		}
	}
	mine := make([]*tasklife.Task, 0, len(order))
	for _, guid := range order {
		mine = append(mine, found[guid])
	}
	// A task first seen in a later pass goes where it was created.
	slices.SortStableFunc(mine, func(a, b *tasklife.Task) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return mine, nil
}

// listenForChanges tells the executor, and the Service's waiters, about every change committed on the
// database, by any instance, until the returned stop is called: pgstore's
// listener delivers each committed transition (a cancel, a task another
// instance's sweep ended) and, every interval, the tasks in CANCELING, in
// case a notification was lost. The runner ignores tasks it does not hold,
// and repeats. stop waits for the listener to let go of its connection;
// calling it again does nothing.
func listenForChanges(store *pgstore.Store, svc *tasklife.Service, e *executor, interval time.Duration, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = store.Listen(ctx, pgstore.ListenOptions{
			Handle: func(_ context.Context, n pgstore.Notification) {
				e.Notify(n.GUID, n.To)
				svc.Notify(n.GUID) // wakes long polls and event streams here
			},
			ReconcileInterval: interval,
			OnError: func(_ context.Context, err error) {
				log.Warn("database listener: cancels made on other instances wait until it reconnects", "error", err)
			},
		})
	}()
	return func() {
		cancel()
		<-done
	}
}
