package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasklife/tasklife"
)

// Notification tells a listener about a task: a committed transition, or,
// when Reconciled, a task found in CANCELING by the periodic reconciliation.
type Notification struct {
	GUID    string
	AppGUID string
	// Event and From are empty when Reconciled.
	Event tasklife.Event
	From  tasklife.State
	To    tasklife.State
	// Version is the task's version after the transition.
	Version int64
	// Reconciled reports that the notification comes from listing CANCELING
	// tasks, not from a published transition.
	Reconciled bool
}

// ListenOptions configures Store.Listen. Handle is required.
type ListenOptions struct {
	// Handle is called for every notification, one at a time, in Listen's
	// goroutine. It should return quickly. It may see a task more than
	// once (reconciliation repeats CANCELING tasks; a reconnect may overlap
	// a notification), so what it does must be idempotent.
	Handle func(ctx context.Context, n Notification)

	// ReconcileInterval is how often Listen lists the tasks in CANCELING and
	// hands each to Handle, so that a notification lost (for instance while
	// the connection was down) costs at most one interval. It also
	// reconciles after every (re)connect. Default 30s.
	ReconcileInterval time.Duration

	// MaxReconnectDelay caps the backoff between reconnection attempts,
	// which starts at 100ms and doubles. Default 10s.
	MaxReconnectDelay time.Duration

	// Connect opens the dedicated connection Listen listens on; Listen
	// closes it. Default: a new connection with the pool's configuration,
	// outside the pool (LISTEN needs a connection of its own).
	Connect func(ctx context.Context) (*pgx.Conn, error)

	// OnError is told about errors Listen survives: lost connections,
	// failed reconciliations, malformed payloads. Default: log with
	// slog.Default.
	OnError func(ctx context.Context, err error)
}

// Listen delivers every committed transition of this store's tasks, from
// any instance sharing the database, to opts.Handle, plus a periodic list
// of the tasks in CANCELING. It LISTENs on a dedicated connection and
// reconnects with backoff when that connection is lost. It blocks until
// ctx is done and then returns ctx's error, having stopped everything it
// started.
//
// An executor uses it to learn of a cancel accepted on another instance:
//
//	go store.Listen(ctx, pgstore.ListenOptions{Handle: func(ctx context.Context, n pgstore.Notification) {
//		if n.To == tasklife.StateCanceling { executor.Stop(n.GUID) }
//	}})
func (s *Store) Listen(ctx context.Context, opts ListenOptions) error {
	if opts.Handle == nil {
		return errors.New("pgstore: Listen needs a Handle func")
	}
	if opts.ReconcileInterval <= 0 {
		opts.ReconcileInterval = 30 * time.Second
	}
	if opts.MaxReconnectDelay <= 0 {
		opts.MaxReconnectDelay = 10 * time.Second
	}
	if opts.Connect == nil {
		cfg := s.pool.Config().ConnConfig
		opts.Connect = func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg) }
	}
	if opts.OnError == nil {
		opts.OnError = func(ctx context.Context, err error) {
			slog.Default().ErrorContext(ctx, "pgstore: listener", "error", err)
		}
	}

	delay := 100 * time.Millisecond
	for {
		connected, err := s.listenOnce(ctx, &opts)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		opts.OnError(ctx, err)
		if connected {
			delay = 100 * time.Millisecond
		}
		timer := time.NewTimer(min(delay, opts.MaxReconnectDelay))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		delay *= 2
	}
}

// listenOnce connects, listens and handles notifications until the
// connection fails or ctx is done. connected reports whether it got as far
// as listening, which resets the backoff.
func (s *Store) listenOnce(ctx context.Context, opts *ListenOptions) (connected bool, err error) {
	conn, err := opts.Connect(ctx)
	if err != nil {
		return false, classify(ctx, "listen: connect", err)
	}
	defer func() {
		// ctx may be done; closing must not wait on it.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.Channel()}.Sanitize()); err != nil {
		return false, classify(ctx, "listen", err)
	}
	// Listening first, then reconciling: a transition committed in between
	// is seen twice rather than not at all.
	for {
		if err := s.reconcile(ctx, conn, opts.Handle); err != nil {
			return true, err
		}
		next := time.Now().Add(opts.ReconcileInterval)
		for {
			waitCtx, cancel := context.WithDeadline(ctx, next)
			pn, err := conn.WaitForNotification(waitCtx)
			cancel()
			if err != nil {
				if ctx.Err() == nil && waitCtx.Err() != nil && !conn.IsClosed() {
					break // time to reconcile
				}
				return true, classify(ctx, "listen: wait", err)
			}
			var n Notification
			if err := json.Unmarshal([]byte(pn.Payload), &n); err != nil || n.GUID == "" {
				opts.OnError(ctx, fmt.Errorf("pgstore: listen: malformed payload %q: %v", pn.Payload, err))
				continue
			}
			opts.Handle(ctx, n)
		}
	}
}

// reconcile hands every task in CANCELING to handle, read on the listener's
// own connection so that it does not depend on the pool.
func (s *Store) reconcile(ctx context.Context, conn *pgx.Conn, handle func(context.Context, Notification)) error {
	rows, err := conn.Query(ctx, s.sql.canceling)
	if err != nil {
		return classify(ctx, "listen: reconcile", err)
	}
	// Collect first: handle may be slow, and the rows hold the connection.
	var found []Notification
	var n Notification
	_, err = pgx.ForEachRow(rows, []any{&n.GUID, &n.AppGUID, &n.Version}, func() error {
		found = append(found, Notification{GUID: n.GUID, AppGUID: n.AppGUID, To: tasklife.StateCanceling, Version: n.Version, Reconciled: true})
		return nil
	})
	if err != nil {
		return classify(ctx, "listen: reconcile", err)
	}
	for _, n := range found {
		handle(ctx, n)
	}
	return nil
}

// UnmarshalJSON reads the payload the transition statement publishes.
func (n *Notification) UnmarshalJSON(b []byte) error {
	var p struct {
		GUID    string `json:"guid"`
		AppGUID string `json:"app_guid"`
		Event   string `json:"event"`
		From    string `json:"from"`
		To      string `json:"to"`
		Version int64  `json:"version"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*n = Notification{GUID: p.GUID, AppGUID: p.AppGUID, Event: tasklife.Event(p.Event),
		From: tasklife.State(p.From), To: tasklife.State(p.To), Version: p.Version}
	return nil
}
