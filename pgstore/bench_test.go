package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// BenchmarkOperations times the store's operations against the in-run
// baseline of one empty round trip (SELECT 1) on the same pool: an
// operation that is one statement should cost about one baseline plus the
// server's work.
func BenchmarkOperations(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	store := pgtest.StoreOn(b, pool)
	svc := tasklife.New(store)
	app := uuid.NewString()
	create := func(b *testing.B) *tasklife.Task {
		task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: app, Command: "true"})
		if err != nil {
			b.Fatal(err)
		}
		return task
	}
	must := func(b *testing.B) func(*tasklife.Task, error) {
		return func(_ *tasklife.Task, err error) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	canceling := create(b)
	must(b)(svc.Cancel(ctx, canceling.GUID))

	b.Run("baseline SELECT 1", func(b *testing.B) {
		for b.Loop() {
			var one int
			if err := pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			must(b)(svc.Get(ctx, canceling.GUID))
		}
	})
	b.Run("create", func(b *testing.B) {
		for b.Loop() {
			create(b)
		}
	})
	b.Run("cancel no-op", func(b *testing.B) {
		for b.Loop() {
			must(b)(svc.Cancel(ctx, canceling.GUID))
		}
	})
	b.Run("start+cancel+canceled", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			task := create(b)
			b.StartTimer()
			must(b)(svc.Start(ctx, task.GUID))
			must(b)(svc.Cancel(ctx, task.GUID))
			must(b)(svc.Canceled(ctx, task.GUID))
		}
	})
}

// pgChunk is how many RUNNING tasks BenchmarkPGCancel inserts, timer
// stopped, before it cancels them: it bounds the preparation's statement
// size however large b.N grows.
const pgChunk = 4096

// BenchmarkPGCancel measures one RUNNING -> CANCELING transition through
// the public API (Service.Cancel over pgstore), each on a task of its own,
// against the baseline of one raw guarded UPDATE ... RETURNING of an
// equivalent row through pgx on an equivalent table (same columns, indexes
// and key count), scanned into the same field types. What the store adds
// over the baseline is the state it keeps in prev_state, canceling_since,
// the fence, the notification it publishes (a plain cancel is a bare
// UPDATE too, and reads the row only when refused), and the Service
// around it.
//
// pgstore and baseline-update run one after the other, as scripts/bench
// compares them; interleaved alternates one cancel of each (the first one
// changing sides every time) and reports both times and their ratio, so
// that a burst of load on a shared machine hits both sides alike.
func BenchmarkPGCancel(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	store := pgtest.StoreOn(b, pool)
	svc := tasklife.New(store)
	tasks := pgx.Identifier{store.Schema(), "tasks"}.Sanitize()
	baseline := pgx.Identifier{store.Schema(), "baseline_tasks"}.Sanitize()
	if _, err := pool.Exec(ctx, `CREATE TABLE `+baseline+` (LIKE `+tasks+` INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}

	running := func(b *testing.B, n int) []string {
		return insertTasks(b, pool, tasks, tasklife.StateRunning, n)
	}
	cancel := func(g string) error {
		t, err := svc.Cancel(ctx, g)
		if err == nil && t.State != tasklife.StateCanceling {
			err = fmt.Errorf("%s: %s", g, t.State)
		}
		return err
	}

	update := `UPDATE ` + baseline + ` SET state = 'CANCELING',
	updated_at = greatest(clock_timestamp(), updated_at), version = version + 1
WHERE guid = $1 AND state = ANY($2)
RETURNING guid, app_guid, sequence_id, name, command, user_name, state,
	memory_in_mb, disk_in_mb, log_rate_limit_in_bytes_per_second, droplet_guid,
	failure_reason, labels, annotations, created_at, updated_at, version`
	from := []string{string(tasklife.StatePending), string(tasklife.StateRunning)}
	// The same rows move to the baseline's table, so both tables hold
	// as many keys as their side of the benchmark canceled.
	moved := func(b *testing.B, n int) []string {
		guids := running(b, n)
		if _, err := pool.Exec(ctx, `WITH moved AS (DELETE FROM `+tasks+` WHERE guid = ANY($1) RETURNING *)
INSERT INTO `+baseline+` OVERRIDING SYSTEM VALUE SELECT * FROM moved`, guids); err != nil {
			b.Fatal(err)
		}
		return guids
	}
	raw := func(g string) error {
		var (
			t             tasklife.Task
			state         string
			failureReason *string
		)
		err := pool.QueryRow(ctx, update, g, from).Scan(&t.GUID, &t.AppGUID, &t.SequenceID,
			&t.Name, &t.Command, &t.User, &state, &t.MemoryInMB, &t.DiskInMB,
			&t.LogRateLimitInBytesPerSecond, &t.DropletGUID, &failureReason,
			&t.Labels, &t.Annotations, &t.CreatedAt, &t.UpdatedAt, &t.Version)
		if err == nil && state != string(tasklife.StateCanceling) {
			err = fmt.Errorf("%s: %s", g, state)
		}
		return err
	}

	b.Run("pgstore", func(b *testing.B) { inChunks(b, running, cancel) })
	b.Run("baseline-update", func(b *testing.B) { inChunks(b, moved, raw) })
	b.Run("interleaved", func(b *testing.B) {
		var ours, theirs time.Duration
		timed := func(op func(string) error, g string) time.Duration {
			start := time.Now()
			if err := op(g); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		b.ReportAllocs()
		for done := 0; done < b.N; {
			b.StopTimer()
			n := min(pgChunk, b.N-done)
			mine, baselines := running(b, n), moved(b, n)
			b.StartTimer()
			for i := range n {
				if (done+i)%2 == 0 {
					ours += timed(cancel, mine[i])
					theirs += timed(raw, baselines[i])
				} else {
					theirs += timed(raw, baselines[i])
					ours += timed(cancel, mine[i])
				}
			}
			done += n
		}
		b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "pgstore-ns/op")
		b.ReportMetric(float64(theirs.Nanoseconds())/float64(b.N), "baseline-ns/op")
		b.ReportMetric(float64(ours)/float64(theirs), "pgstore/baseline")
	})
}

// inChunks runs op on b.N tasks, preparing them pgChunk at a time with the
// timer stopped.
func inChunks(b *testing.B, prepare func(b *testing.B, n int) []string, op func(guid string) error) {
	b.ReportAllocs()
	for done := 0; done < b.N; {
		b.StopTimer()
		guids := prepare(b, min(pgChunk, b.N-done))
		b.StartTimer()
		for _, g := range guids {
			if err := op(g); err != nil {
				b.Fatal(err)
			}
		}
		done += len(guids)
	}
}

// insertTasks inserts n tasks in state (PENDING or RUNNING) into the table
// tasks in one statement, as Create (and Start) would leave them, each app
// getting a fresh run of sequence ids, and returns their GUIDs. One
// statement rather than 2n round trips keeps the preparation short.
func insertTasks(b *testing.B, pool *pgxpool.Pool, tasks string, state tasklife.State, n int) []string {
	b.Helper()
	rows, err := pool.Query(context.Background(), `INSERT INTO `+tasks+` (guid, app_guid, sequence_id, name,
	command, user_name, state, memory_in_mb, disk_in_mb, log_rate_limit_in_bytes_per_second,
	droplet_guid, created_at, updated_at, version)
SELECT gen_random_uuid()::text, $1 || (i % 64), i, 't' || i, 'bin/run --job ' || i, '',
	$3, 256, 1024, -1, 'd', clock_timestamp(), clock_timestamp(), CASE WHEN $3 = 'PENDING' THEN 1 ELSE 2 END
FROM generate_series(1, $2::int) AS i
RETURNING guid`, uuid.NewString()+"-", n, string(state))
	if err != nil {
		b.Fatal(err)
	}
	guids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	return guids
}

// claimBatch is how many tasks one claim takes in BenchmarkClaim.
const claimBatch = 100

// BenchmarkClaim measures Store.Claim: one op is one claim of claimBatch
// PENDING tasks, oldest first, from a queue refilled (timer stopped) 4,000
// at a time. ns/task is the cost of claiming one task.
func BenchmarkClaim(b *testing.B) {
	pool := pgtest.Pool(b)
	b.Run("pgstore", func(b *testing.B) {
		store := pgtest.StoreOn(b, pool)
		tasks := pgx.Identifier{store.Schema(), "tasks"}.Sanitize()
		queued := 0
		for b.Loop() {
			if queued < claimBatch {
				b.StopTimer()
				queued += len(insertTasks(b, pool, tasks, tasklife.StatePending, 40*claimBatch))
				b.StartTimer()
			}
			claimAll(b, store, "bench", time.Minute, claimBatch)
			queued -= claimBatch
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*claimBatch), "ns/task")
	})
}

// heartbeatTasks is how many tasks one renewal covers in BenchmarkHeartbeat.
const heartbeatTasks = 1000

// BenchmarkHeartbeat measures Store.Renew of an owner that holds
// heartbeatTasks tasks, among as many held by another owner: one op is one
// renewal of them all, one statement. ns/task is its cost per lease.
func BenchmarkHeartbeat(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	b.Run("pgstore", func(b *testing.B) {
		store := pgtest.StoreOn(b, pool)
		tasks := pgx.Identifier{store.Schema(), "tasks"}.Sanitize()
		insertTasks(b, pool, tasks, tasklife.StatePending, 2*heartbeatTasks)
		claimAll(b, store, "bench", time.Hour, heartbeatTasks)
		claimAll(b, store, "other", time.Hour, heartbeatTasks)
		if _, err := pool.Exec(ctx, `ANALYZE `+tasks); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			held, err := store.Renew(ctx, "bench", time.Hour)
			if err != nil || len(held) != heartbeatTasks {
				b.Fatalf("renewed %d: %v", len(held), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*heartbeatTasks), "ns/task")
	})
}

// claimAll claims n tasks for owner, and fails b unless it gets them all.
func claimAll(b *testing.B, store *pgstore.Store, owner string, lease time.Duration, n int) {
	got, err := store.Claim(context.Background(), tasklife.ClaimRequest{Owner: owner, Lease: lease, Limit: n})
	if err != nil || len(got) != n {
		b.Fatalf("claimed %d of %d: %v", len(got), n, err)
	}
}
