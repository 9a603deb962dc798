package pgstore_test

import (
	"context"
	"log"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// A host on PostgreSQL: migrate, serve, and hear every instance's changes.
// (Not run: it needs a server and runs until ctx is done.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	svc, err := setUp(ctx, pool, func(guid string) { log.Print("stop ", guid) })
	if err != nil {
		log.Fatal(err)
	}
	_, _ = svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "make report"})
}

// setUp is the README's PostgreSQL block.
func setUp(ctx context.Context, pool *pgxpool.Pool, stopWork func(guid string)) (*tasklife.Service, error) {
	store, err := pgstore.New(pool) // pool: the host's *pgxpool.Pool
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil { // or apply Migrations with your own tool
		return nil, err
	}
	svc := tasklife.New(store)
	go func() {
		// Every instance hears every committed change; a cancel reaches the one
		// that runs the task.
		err := store.Listen(ctx, pgstore.ListenOptions{Handle: func(ctx context.Context, n pgstore.Notification) {
			if n.To == tasklife.StateCanceling {
				stopWork(n.GUID) // if it runs here
			}
		}})
		log.Print(err) // Listen returns when ctx is done
	}()
	return svc, nil
}

// TestPgtestDocBlock runs pgtest's package documentation.
func TestPgtestDocBlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := pgtest.Store(t) // a migrated pgstore.Store in a new schema
	svc := tasklife.New(store)
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "true"})
	require.NoError(t, err)
	require.Equal(t, tasklife.StatePending, task.State)
}
