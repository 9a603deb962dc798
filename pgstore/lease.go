package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasklife/tasklife"
)

// Claims, leases and deadlines (see tasklife.Store): each operation is one
// statement, one round trip, and reads one of the partial indexes of
// migration 0003, which hold only the tasks waiting or under way. A claim
// or an expiry writes each task exactly as a transition does (prev_state,
// updated_at, version) and publishes it on the channel, so listeners on
// every instance hear of it.

// nextUpdatedAt is a write's new updated_at: the current time, and at least
// a microsecond after the one it replaces.
const nextUpdatedAt = `greatest(clock_timestamp(), updated_at + interval '1 microsecond')`

// notify is the output column that publishes one written row as event: in
// an UPDATE's RETURNING, or in a select over one (its columns, with
// prev_state). A CTE that only selects runs when read: each statement that
// notifies there reads every row of it.
func notify(channel, event string) string {
	return `pg_notify(` + channel + `, json_build_object(
		'guid', guid, 'app_guid', app_guid, 'event', ` + event + `,
		'from', prev_state, 'to', state, 'version', version)::text) AS sent`
}

func (st *statements) addLeaseStatements(channel string) {
	lit := func(s string) string { return quoteLiteral(s) }
	pending, running := lit(string(tasklife.StatePending)), lit(string(tasklife.StateRunning))
	canceling, failed := lit(string(tasklife.StateCanceling)), lit(string(tasklife.StateFailed))
	micros := func(param string) string { return param + `::bigint * interval '1 microsecond'` }

	// picked locks the oldest PENDING tasks (among $4 for claimGUIDs),
	// skipping those another claim or writer holds; the lock re-checks
	// the state on the newest row, so a task that stopped being PENDING
	// meanwhile is not taken, and LIMIT counts only the tasks locked. The
	// UPDATE then writes rows this statement holds, found by primary key
	// (= ANY of an array, so the plan never depends on an estimate of how
	// many were picked).
	claim := func(among string) string {
		return `WITH picked AS MATERIALIZED (
	SELECT id FROM ` + st.tasks + ` WHERE state = ` + pending + among + `
	ORDER BY created_at, id LIMIT $3
	FOR UPDATE SKIP LOCKED
), upd AS (
	UPDATE ` + st.tasks + ` AS t
	SET prev_state = t.state, state = ` + running + `, owner = $1, version = t.version + 1,
		updated_at = ` + nextUpdatedAt + `, lease_expires_at = ` + nextUpdatedAt + ` + ` + micros("$2") + `
	WHERE t.id = ANY(ARRAY(SELECT id FROM picked))
	RETURNING t.id, t.prev_state, ` + prefixed("t") + `, ` + notify(channel, lit(string(tasklife.EventStart))) + `
)
SELECT ` + columns + ` FROM upd ORDER BY created_at, id`
	}
	st.claim = claim("")
	st.claimGUIDs = claim(" AND guid = ANY($4::text[])")

	// now is read once per statement, and is an InitPlan's value: unlike
	// clock_timestamp() itself, an index can take it.
	clock := `WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS now)
`
	now := `(SELECT now FROM clock)`

	// A renewal is not a change: no version, no updated_at, no notice.
	st.renew = clock + `UPDATE ` + st.tasks + ` SET lease_expires_at = ` + now + ` + ` + micros("$2") + `
WHERE owner = $1 AND lease_expires_at > ` + now + ` AND state IN (` + running + `, ` + canceling + `)
RETURNING guid`

	// why is, by precedence, the failure reason of a task whose time has
	// run out: CANCELING past the cancel deadline ($1 µs, none when 0); a
	// lease run out; PENDING past the expiry ($2 µs, none when 0). It is
	// NULL when the task's time has not run out.
	why := `CASE
		WHEN t.state = ` + canceling + ` AND $1::bigint > 0 AND t.canceling_since < ` + now + ` - ` + micros("$1") + `
			THEN ` + lit(tasklife.ReasonCanceled) + `
		WHEN t.state IN (` + running + `, ` + canceling + `) AND t.lease_expires_at <= ` + now + `
			THEN ` + lit(tasklife.ReasonUnknownOutcome) + `
		WHEN t.state = ` + pending + ` AND $2::bigint > 0 AND t.created_at < ` + now + ` - ` + micros("$2") + `
			THEN ` + lit(tasklife.ReasonExpired) + `
	END`
	// due finds candidates, each kind through its own index; locked locks up to $3
	// of them, skipping those a writer holds, and re-checks why on the
	// newest row; the UPDATE writes rows this statement holds, and takes
	// its reason from why on the row it writes. Both find their rows by
	// primary key, = ANY of an array, as a claim does.
	// ReasonCanceled is the cancel deadline's alone, so it names the event.
	st.expire = clock + `, due AS (
	(SELECT id FROM ` + st.tasks + ` WHERE $1::bigint > 0 AND state = ` + canceling + `
		AND canceling_since < ` + now + ` - ` + micros("$1") + ` ORDER BY canceling_since LIMIT $3)
	UNION
	(SELECT id FROM ` + st.tasks + ` WHERE lease_expires_at <= ` + now + ` ORDER BY lease_expires_at LIMIT $3)
	UNION
	(SELECT id FROM ` + st.tasks + ` WHERE $2::bigint > 0 AND state = ` + pending + `
		AND created_at < ` + now + ` - ` + micros("$2") + ` ORDER BY created_at, id LIMIT $3)
), locked AS MATERIALIZED (
	SELECT t.id FROM ` + st.tasks + ` AS t
	WHERE t.id = ANY(ARRAY(SELECT id FROM due)) AND ` + why + ` IS NOT NULL
	LIMIT $3
	FOR UPDATE SKIP LOCKED
), upd AS (
	UPDATE ` + st.tasks + ` AS t
	SET prev_state = t.state, state = ` + failed + `, version = t.version + 1, failure_reason = ` + why + `,
		updated_at = ` + nextUpdatedAt + `, lease_expires_at = NULL
	WHERE t.id = ANY(ARRAY(SELECT id FROM locked)) AND ` + why + ` IS NOT NULL
	RETURNING t.id, CASE t.failure_reason WHEN ` + lit(tasklife.ReasonCanceled) + ` THEN ` + lit(string(tasklife.EventCanceled)) + `
		ELSE ` + lit(string(tasklife.EventFail)) + ` END AS event, t.prev_state, ` + prefixed("t") + `
), note AS (
	SELECT upd.*, ` + notify(channel, "event") + ` FROM upd
)
SELECT event, prev_state, ` + columns + ` FROM note ORDER BY created_at, id`
}

// Claim implements tasklife.Store.
func (o *ops) Claim(ctx context.Context, req tasklife.ClaimRequest) ([]*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stmt, args := o.sql.claim, []any{req.Owner, req.Lease.Microseconds(), req.Limit}
	if len(req.GUIDs) > 0 {
		stmt, args = o.sql.claimGUIDs, append(args, req.GUIDs)
	}
	rows, err := o.db.Query(ctx, stmt, args...)
	if err != nil {
		return nil, classify(ctx, "claim", err)
	}
	tasks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*tasklife.Task, error) { return scanTask(row) })
	if err != nil {
		return nil, classify(ctx, "claim", err)
	}
	if o.applied != nil {
		for _, t := range tasks {
			o.applied(tasklife.Change{Task: t.Clone(), From: tasklife.StatePending, To: tasklife.StateRunning, Event: tasklife.EventStart})
		}
	}
	return tasks, nil
}

// Renew implements tasklife.Store.
func (o *ops) Renew(ctx context.Context, owner string, lease time.Duration) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := o.db.Query(ctx, o.sql.renew, owner, lease.Microseconds())
	if err != nil {
		return nil, classify(ctx, "renew", err)
	}
	held, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(ctx, "renew", err)
	}
	return held, nil
}

// Expire implements tasklife.Store.
func (o *ops) Expire(ctx context.Context, req tasklife.ExpireRequest) ([]tasklife.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := o.db.Query(ctx, o.sql.expire, req.CancelDeadline.Microseconds(), req.PendingExpiry.Microseconds(), req.Limit)
	if err != nil {
		return nil, classify(ctx, "expire", err)
	}
	changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (tasklife.Change, error) {
		var event, from string
		t, err := scanTask(row, &event, &from)
		if err != nil {
			return tasklife.Change{}, err
		}
		return tasklife.Change{Task: t, From: tasklife.State(from), To: tasklife.StateFailed, Event: tasklife.Event(event)}, nil
	})
	if err != nil {
		return nil, classify(ctx, "expire", err)
	}
	if o.applied != nil {
		for _, c := range changes {
			c.Task = c.Task.Clone()
			o.applied(c)
		}
	}
	return changes, nil
}
