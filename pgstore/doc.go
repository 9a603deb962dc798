// Package pgstore is the PostgreSQL tasklife.Store, for hosts that run on
// more than one machine: instances share one database, and a cancel
// accepted by any of them reaches the executor on whichever runs the task.
//
//	store, err := pgstore.New(pool) // pool: the host's *pgxpool.Pool
//	if err != nil {
//		return nil, err
//	}
//	if err := store.Migrate(ctx); err != nil { // or apply Migrations with your own tool
//		return nil, err
//	}
//	svc := tasklife.New(store)
//
// # One statement per operation
//
// Create, Get and every transition that applies are one SQL statement
// each, so one round trip (the first use of a statement on a connection
// also prepares it, in pgx's default query mode). A transition is a
// guarded UPDATE (WHERE guid and state is one the event may leave) that
// writes the row, publishes the change with pg_notify and returns the row.
// When the guard fails, a read tells no-op, invalid transition and not
// found apart: a second statement for a plain transition, a second branch
// of the same statement for an audited or keyed one, which must record its
// event or key in the statement that decides. The comments on the
// statements in store.go say why this is correct under concurrent
// writers. Create upserts the app's counter row in
// app_sequences, so sequence ids are unique and gap-free per app.
//
// List is one statement too: the page and, as an InitPlan in the same
// snapshot, the total. Only a page past the end costs a second statement.
//
// # Claims, leases and deadlines
//
// Claim, Renew and Expire are one statement each (lease.go holds them).
// A claim locks the oldest PENDING tasks with FOR UPDATE SKIP LOCKED, so
// concurrent claims from any instance never wait for or take the same
// task, and moves them to RUNNING with an owner and a lease, publishing
// each as a start. A renewal moves every lease an owner holds, and is not
// a change (no version, no notification). An expiry finds the tasks past
// their cancel deadline, lease or PENDING expiry, locks them the same way,
// re-checks on the locked row and fails them, publishing each. A
// transition fenced by an owner applies only while that owner holds the
// task; a step to a terminal state ends the lease. Migration 0003 gives
// each a small partial index (PENDING tasks in list order, leases,
// CANCELING tasks by when they entered it, owners under lease), so none
// reads the whole table; TestLeasePlans checks the plans. A renewal
// rewrites lease_expires_at, which is indexed, so it is not a HOT update.
//
// # Schema
//
// The store owns its schema (DefaultSchema, or WithSchema). Migrate applies
// the embedded Migrations in one transaction under an advisory lock, so it
// is idempotent and safe when several instances start at once. Hosts that
// run migrations with their own tool apply the files in Migrations, in
// order, with search_path set to the schema; README.md shows them.
//
// # Transactions
//
// Store.WithTx runs operations in the host's transaction. Observers of a
// tasklife.Service would run before that transaction commits, so the host
// passes TxStore.Changes to Service.Deliver after commit (see WithTx). Notifications
// need nothing: PostgreSQL sends them at commit, and never on rollback.
//
// # Across instances
//
// Every committed transition, claim and expiry is published on Store.Channel as JSON
// ({"guid", "app_guid", "event", "from", "to", "version"}). Store.Listen
// LISTENs on a dedicated connection, reconnects with backoff, and lists the
// CANCELING tasks after every (re)connect and every ReconcileInterval, so a
// lost notification costs at most one interval.
//
// # Errors
//
// A server that cannot be reached, a lost connection, a server shutting
// down or starting up, a closed pool: errors matching
// tasklife.ErrUnavailable that keep their cause. An operation cut short by
// its context returns an error matching the context's error (and, because
// the statement may have run, tasklife.ErrUnavailable too). No error is
// ever turned into success or ErrNotFound.
//
// # Indexes
//
// Measured with EXPLAIN ANALYZE on 100k tasks over 1000 apps (TestListPlans
// logs the plans; run it with -v): a page of 50 comes from an index walked
// in list order (by created_at, updated_at, or per app or per state when
// the filter has one value), or from a bitmap scan of the filter's index and
// a small sort; no filtered list reads the table. Counting for total_results
// reads the whole table only when the filter matches most of it (no filter:
// about 10 ms at 100k rows). The reconciler's scan uses the state index.
package pgstore
