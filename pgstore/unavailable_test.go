package pgstore_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
	"github.com/tasklife/tasklife/storetest"
)

// every runs each Store operation and returns their errors by name.
func every(ctx context.Context, store tasklife.Store) map[string]error {
	errs := map[string]error{}
	_, errs["create"] = store.Create(ctx, &tasklife.Task{AppGUID: uuid.NewString(), Name: "n", Command: "true"}, nil)
	_, errs["get"] = store.Get(ctx, uuid.NewString())
	_, errs["list"] = store.List(ctx, tasklife.ListQuery{Page: 1, PerPage: 50})
	for _, ev := range tasklife.Events() {
		_, errs[string(ev)] = store.Transition(ctx, request(ev)(uuid.NewString()))
	}
	return errs
}

// refusedPool returns a pool on a local port nobody listens on.
func refusedPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().(*net.TCPAddr)
	require.NoError(t, l.Close())
	cfg := pgtest.Config(t)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = "127.0.0.1", uint16(addr.Port)
	cfg.ConnConfig.Fallbacks = nil
	return pgtest.NewPool(t, cfg)
}

// TestUnavailable: a server that cannot be reached, or a closed pool, is
// ErrUnavailable for every operation, never ErrNotFound or success.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	refused := refusedPool(t)

	closed := pgtest.Pool(t)
	closed.Close()

	for name, pool := range map[string]*pgxpool.Pool{"refused": refused, "closed pool": closed} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			store, err := pgstore.New(pool, pgstore.WithSchema("nowhere"))
			require.NoError(t, err)
			for op, err := range every(ctx, store) {
				require.ErrorIs(t, err, tasklife.ErrUnavailable, "%s: %v", op, err)
				require.NotErrorIs(t, err, tasklife.ErrNotFound, op)
			}
			require.ErrorIs(t, store.Migrate(ctx), tasklife.ErrUnavailable)
		})
	}
}

// TestConnectionKilled: the server ends the connection under the store (as
// a restart or failover does). The next operation on it reports
// ErrUnavailable and writes nothing; the one after that works.
func TestConnectionKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.Config(t)
	cfg.MaxConns = 1
	// No liveness ping on acquire: the store itself must meet the dead
	// connection.
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool := pgtest.NewPool(t, cfg)
	store := pgtest.StoreOn(t, pool)
	svc := tasklife.New(store)
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: uuid.NewString(), Command: "true"})
	require.NoError(t, err)
	task, err = svc.Start(ctx, task.GUID)
	require.NoError(t, err)

	admin := pgtest.Pool(t)
	kill := func() {
		var pid int
		require.NoError(t, pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		var killed bool
		require.NoError(t, admin.QueryRow(ctx, "SELECT pg_terminate_backend($1, 5000)", pid).Scan(&killed))
		require.True(t, killed)
	}

	// The store itself reports the dead connection.
	kill()
	_, err = store.Transition(ctx, storetest.Request(task.GUID, tasklife.EventCancel, ""))
	require.ErrorIs(t, err, tasklife.ErrUnavailable)
	require.NotErrorIs(t, err, tasklife.ErrNotFound)
	got, err := store.Get(ctx, task.GUID)
	require.NoError(t, err, "the pool has replaced the connection")
	require.Equal(t, task, got, "the failed cancel wrote nothing")

	// The Service repeats the write on a new connection: one write, a
	// definite answer.
	kill()
	got, err = svc.Cancel(ctx, task.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StateCanceling, got.State)
	require.Equal(t, task.Version+1, got.Version)
}

// TestListenUnreachable: a listener that cannot connect keeps trying,
// reports ErrUnavailable, and still stops cleanly.
func TestListenUnreachable(t *testing.T) {
	t.Parallel()
	store, err := pgstore.New(refusedPool(t))
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 100)
	done := make(chan error, 1)
	go func() {
		done <- store.Listen(ctx, pgstore.ListenOptions{
			Handle:            func(context.Context, pgstore.Notification) {},
			MaxReconnectDelay: 10 * time.Millisecond,
			OnError: func(_ context.Context, err error) {
				select {
				case errs <- err:
				default:
				}
			},
		})
	}()
	for range 3 { // it retries
		require.ErrorIs(t, <-errs, tasklife.ErrUnavailable)
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}
