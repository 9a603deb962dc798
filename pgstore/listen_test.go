package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// inbox collects what a listener hands over.
type inbox struct {
	mu   sync.Mutex
	got  []pgstore.Notification
	errs []error
}

func (b *inbox) handle(_ context.Context, n pgstore.Notification) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, n)
}

func (b *inbox) onError(_ context.Context, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, err)
}

// waitFor polls until the inbox holds a notification matching want.
func (b *inbox) waitFor(t *testing.T, want func(pgstore.Notification) bool) pgstore.Notification {
	t.Helper()
	var found pgstore.Notification
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, n := range b.got {
			if want(n) {
				found = n
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	return found
}

func (b *inbox) count(want func(pgstore.Notification) bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, x := range b.got {
		if want(x) {
			n++
		}
	}
	return n
}

type listenBundle struct {
	ctx     context.Context
	a, b    *pgstore.Store // two instances on one schema
	svcA    *tasklife.Service
	inbox   *inbox
	app     string
	appName string // the listener connection's application_name
	admin   *pgxpool.Pool
	// marker was canceled before the listener started, in an app of its
	// own: only a reconciliation reports it (see reconciled).
	marker *tasklife.Task
	stop   func() error
}

// setupListen starts a listener on instance b of a store that instance a
// shares, and stops it when the test ends.
func setupListen(t *testing.T, interval time.Duration, before func(*listenBundle)) *listenBundle {
	t.Helper()
	a := pgtest.Store(t)
	poolB := pgtest.Pool(t)
	b, err := pgstore.New(poolB, pgstore.WithSchema(a.Schema()))
	require.NoError(t, err)
	lb := &listenBundle{ctx: context.Background(), a: a, b: b, svcA: tasklife.New(a), inbox: &inbox{},
		app: uuid.NewString(), appName: "tasklife-listener-" + uuid.NewString()[:8], admin: pgtest.Pool(t)}
	lb.marker = lb.runningIn(t, uuid.NewString())
	_, err = lb.svcA.Cancel(lb.ctx, lb.marker.GUID)
	require.NoError(t, err)
	if before != nil {
		before(lb)
	}
	ctx, cancel := context.WithCancel(lb.ctx)
	done := make(chan error, 1)
	connCfg := poolB.Config().ConnConfig
	connCfg.RuntimeParams["application_name"] = lb.appName
	go func() {
		done <- b.Listen(ctx, pgstore.ListenOptions{
			Handle:            lb.inbox.handle,
			OnError:           lb.inbox.onError,
			ReconcileInterval: interval,
			Connect:           func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, connCfg) },
		})
	}()
	var once sync.Once
	var stopErr error
	lb.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = <-done
		})
		return stopErr
	}
	t.Cleanup(func() { _ = lb.stop() })
	// Listening has begun once the first reconciliation, which follows the
	// LISTEN, has handed over the marker. A cancel committed from then on
	// (until the next interval) reaches the listener by notification only.
	require.Eventually(t, func() bool { return lb.reconciled() >= 1 }, 10*time.Second, 5*time.Millisecond)
	return lb
}

// reconciled counts the reconciliations that have handed over the marker:
// each one's query has run by then. (The backend's state in
// pg_stat_activity cannot tell this: it is idle with the reconciliation's
// query both after pgx prepares the statement and after it runs it.)
func (lb *listenBundle) reconciled() int {
	return lb.inbox.count(func(n pgstore.Notification) bool { return n.GUID == lb.marker.GUID && n.Reconciled })
}

// listenerPID returns the backend pid of the listener's newest connection,
// whatever it is doing, and 0 while it has none.
func (lb *listenBundle) listenerPID() int {
	var pid int
	err := lb.admin.QueryRow(lb.ctx, `SELECT coalesce((SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND backend_type = 'client backend'
		ORDER BY backend_start DESC LIMIT 1), 0)`, lb.appName).Scan(&pid)
	if err != nil {
		return 0
	}
	return pid
}

func (lb *listenBundle) running(t *testing.T) *tasklife.Task {
	t.Helper()
	return lb.runningIn(t, lb.app)
}

func (lb *listenBundle) runningIn(t *testing.T, app string) *tasklife.Task {
	t.Helper()
	task, err := lb.svcA.Create(lb.ctx, tasklife.NewTask{AppGUID: app, Command: "sleep 1"})
	require.NoError(t, err)
	task, err = lb.svcA.Start(lb.ctx, task.GUID)
	require.NoError(t, err)
	return task
}

func canceling(guid string) func(pgstore.Notification) bool {
	return func(n pgstore.Notification) bool { return n.GUID == guid && n.To == tasklife.StateCanceling }
}

// TestListenAcrossInstances: a cancel committed through one instance reaches
// a listener on another, with the whole change; a no-op publishes nothing.
func TestListenAcrossInstances(t *testing.T) {
	t.Parallel()
	lb := setupListen(t, time.Hour, nil)
	task := lb.running(t)
	_, err := lb.svcA.Cancel(lb.ctx, task.GUID)
	require.NoError(t, err)
	_, err = lb.svcA.Cancel(lb.ctx, task.GUID) // no-op
	require.NoError(t, err)
	_, err = lb.svcA.Canceled(lb.ctx, task.GUID)
	require.NoError(t, err)

	n := lb.inbox.waitFor(t, canceling(task.GUID))
	require.Equal(t, pgstore.Notification{GUID: task.GUID, AppGUID: lb.app, Event: tasklife.EventCancel,
		From: tasklife.StateRunning, To: tasklife.StateCanceling, Version: task.Version + 1}, n)
	lb.inbox.waitFor(t, func(n pgstore.Notification) bool { return n.GUID == task.GUID && n.Event == tasklife.EventCanceled })
	require.Equal(t, 1, lb.inbox.count(canceling(task.GUID)), "the no-op cancel published nothing")
	require.ErrorIs(t, lb.stop(), context.Canceled)
}

// TestListenReconciles: tasks already CANCELING when the listener starts,
// and on every interval, are handed over without any notification.
func TestListenReconciles(t *testing.T) {
	t.Parallel()
	var before *tasklife.Task
	lb := setupListen(t, 50*time.Millisecond, func(lb *listenBundle) {
		before = lb.running(t)
		_, err := lb.svcA.Cancel(lb.ctx, before.GUID)
		require.NoError(t, err)
	})
	n := lb.inbox.waitFor(t, canceling(before.GUID))
	require.True(t, n.Reconciled)
	require.Equal(t, before.Version+1, n.Version)
	// Later intervals repeat it, which is what covers a lost notification.
	require.Eventually(t, func() bool { return lb.inbox.count(canceling(before.GUID)) >= 3 }, 10*time.Second, 5*time.Millisecond)
	lb.inbox.mu.Lock()
	defer lb.inbox.mu.Unlock()
	require.Empty(t, lb.inbox.errs, "waking up to reconcile keeps the connection")
}

// TestListenReconnects kills the listener's connection: the listener
// reports it, reconnects, reconciles what it may have missed, and keeps
// delivering notifications.
func TestListenReconnects(t *testing.T) {
	t.Parallel()
	lb := setupListen(t, time.Hour, nil)
	// The connection that reconciled stays until something kills it; its
	// pid is there whatever it is doing.
	pid := lb.listenerPID()
	var killed bool
	require.NoError(t, lb.admin.QueryRow(lb.ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&killed))
	require.True(t, killed)

	// Canceled while the listener may be down: reconciliation finds it.
	missed := lb.running(t)
	_, err := lb.svcA.Cancel(lb.ctx, missed.GUID)
	require.NoError(t, err)
	lb.inbox.waitFor(t, canceling(missed.GUID))

	// A new connection, past the one reconciliation that follows its
	// LISTEN (the interval is an hour): the next cancel can reach it only
	// by notification.
	require.Eventually(t, func() bool { p := lb.listenerPID(); return p != 0 && p != pid && lb.reconciled() >= 2 }, 10*time.Second, 5*time.Millisecond)
	after := lb.running(t)
	_, err = lb.svcA.Cancel(lb.ctx, after.GUID)
	require.NoError(t, err)
	n := lb.inbox.waitFor(t, canceling(after.GUID))
	require.False(t, n.Reconciled, "delivered by notification on the new connection")

	lb.inbox.mu.Lock()
	errs := lb.inbox.errs
	lb.inbox.mu.Unlock()
	require.NotEmpty(t, errs)
	require.ErrorIs(t, errs[0], tasklife.ErrUnavailable, "the lost connection is reported as such: %v", errs[0])
}

// TestTxVariant: operations in a host's transaction become visible, publish
// and show up in Changes only with the host's commit; a rollback leaves no
// trace at all.
func TestTxVariant(t *testing.T) {
	t.Parallel()
	for _, commit := range []bool{false, true} {
		name := map[bool]string{false: "rollback", true: "commit"}[commit]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lb := setupListen(t, time.Hour, nil)
			pool := lb.admin
			store, err := pgstore.New(pool, pgstore.WithSchema(lb.a.Schema()))
			require.NoError(t, err)
			existing := lb.running(t)

			tx, err := pool.Begin(lb.ctx)
			require.NoError(t, err)
			txStore := store.WithTx(tx)
			txSvc := tasklife.New(txStore)
			created, err := txSvc.Create(lb.ctx, tasklife.NewTask{AppGUID: lb.app, Command: "true"})
			require.NoError(t, err)
			_, err = txSvc.Cancel(lb.ctx, created.GUID)
			require.NoError(t, err)
			canceled, err := txSvc.Cancel(lb.ctx, existing.GUID)
			require.NoError(t, err)
			_, err = txSvc.Cancel(lb.ctx, existing.GUID) // no-op: no change recorded
			require.NoError(t, err)

			// Outside the transaction nothing has happened yet.
			_, err = lb.svcA.Get(lb.ctx, created.GUID)
			require.ErrorIs(t, err, tasklife.ErrNotFound)
			got, err := lb.svcA.Get(lb.ctx, existing.GUID)
			require.NoError(t, err)
			require.Equal(t, tasklife.StateRunning, got.State)

			changes := txStore.Changes()
			require.Len(t, changes, 3, "the create and the two cancels that wrote")
			require.Equal(t, tasklife.Change{Task: created, To: tasklife.StatePending, Event: tasklife.EventCreate}, changes[0])
			require.Equal(t, tasklife.Change{Task: canceled, From: tasklife.StateRunning, To: tasklife.StateCanceling, Event: tasklife.EventCancel}, changes[2])

			// A marker committed after the transaction ends: once the
			// listener has it, it would have had the transaction's too. It
			// is in another app: the transaction holds lb.app's sequence.
			marker := lb.runningIn(t, uuid.NewString())
			// The host's Service, whose observers hear committed changes.
			var delivered []tasklife.Change
			hostSvc := tasklife.New(store, tasklife.WithObserver(func(_ context.Context, c tasklife.Change) {
				delivered = append(delivered, c)
			}))
			if commit {
				require.NoError(t, tx.Commit(lb.ctx))
				hostSvc.Deliver(lb.ctx, txStore.Changes()...)
				require.Equal(t, changes, delivered, "after commit the host delivers the changes to its observers")
			} else {
				require.NoError(t, tx.Rollback(lb.ctx))
				require.Empty(t, delivered)
			}
			_, err = lb.svcA.Cancel(lb.ctx, marker.GUID)
			require.NoError(t, err)
			lb.inbox.waitFor(t, canceling(marker.GUID))

			if commit {
				require.Equal(t, 1, lb.inbox.count(canceling(existing.GUID)))
				require.Equal(t, 1, lb.inbox.count(canceling(created.GUID)))
				got, err := lb.svcA.Get(lb.ctx, existing.GUID)
				require.NoError(t, err)
				require.Equal(t, canceled, got)
				return
			}
			require.Zero(t, lb.inbox.count(canceling(existing.GUID)), "a rolled-back cancel never notifies")
			require.Zero(t, lb.inbox.count(canceling(created.GUID)))
			_, err = lb.svcA.Get(lb.ctx, created.GUID)
			require.ErrorIs(t, err, tasklife.ErrNotFound)
			got, err = lb.svcA.Get(lb.ctx, existing.GUID)
			require.NoError(t, err)
			require.Equal(t, existing, got)
			// The rolled-back create gave its sequence id back.
			next, err := lb.svcA.Create(lb.ctx, tasklife.NewTask{AppGUID: lb.app, Command: "true"})
			require.NoError(t, err)
			require.Equal(t, existing.SequenceID+1, next.SequenceID)
		})
	}
}

// TestNotifiesEachCommittedTransitionOnce: clients race random events on a
// few tasks, so that many are no-ops, invalid, or refused on a stale
// snapshot and asked again. The channel carries exactly the changes the
// Service reported as committed, each once, and nothing else.
func TestNotifiesEachCommittedTransitionOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := pgtest.StoreOn(t, pool)
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, `LISTEN `+pgx.Identifier{store.Channel()}.Sanitize())
	require.NoError(t, err)

	type change struct {
		GUID    string         `json:"guid"`
		Event   tasklife.Event `json:"event"`
		From    tasklife.State `json:"from"`
		To      tasklife.State `json:"to"`
		Version int64          `json:"version"`
	}
	var (
		mu        sync.Mutex
		committed []change
	)
	svc := tasklife.New(store, tasklife.WithObserver(func(_ context.Context, c tasklife.Change) {
		if c.Event == tasklife.EventCreate {
			return // a create publishes nothing; only transitions do
		}
		mu.Lock()
		defer mu.Unlock()
		committed = append(committed, change{c.Task.GUID, c.Event, c.From, c.To, c.Task.Version})
	}))
	// Every client sends one event to each task, in the same order, so
	// they meet on one task at a time.
	const tasks, clients = 40, 8
	guids := make([]string, tasks)
	for i := range guids {
		task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: uuid.NewString(), Command: "true"})
		require.NoError(t, err)
		guids[i] = task.GUID
	}
	events := []tasklife.Event{tasklife.EventStart, tasklife.EventStart, tasklife.EventCancel,
		tasklife.EventSucceed, tasklife.EventFail, tasklife.EventCanceled}
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i, guid := range guids {
				_, err := svc.Apply(ctx, guid, events[(c*7+i)%len(events)], "boom")
				if err != nil && !errors.Is(err, tasklife.ErrInvalidTransition) {
					errs[c] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	// Notifications arrive in commit order: once the marker is in, every
	// transition's would be.
	_, err = pool.Exec(ctx, `SELECT pg_notify($1, 'marker')`, store.Channel())
	require.NoError(t, err)
	var published []change
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(wait)
		require.NoError(t, err)
		if n.Payload == "marker" {
			break
		}
		var c change
		require.NoError(t, json.Unmarshal([]byte(n.Payload), &c))
		published = append(published, c)
	}
	t.Logf("%d of %d operations committed a transition", len(committed), tasks*clients)
	require.NotEmpty(t, committed)
	require.Less(t, len(committed), tasks*clients, "the race produced no no-op or refusal")
	require.ElementsMatch(t, committed, published)
}
