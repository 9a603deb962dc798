package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tasklife/tasklife"
)

// Idempotency keys are one more CTE in the statement that makes the
// change, as audit events are: the key's row holds the task as the
// statement wrote it, so the change and its answer commit together, or
// neither does. A second statement with the same key waits on the primary
// key for the first to commit, then fails with a unique violation, which
// rolls its whole change back: ErrIdempotencyKeyExists.

// keyConstraint is the primary key of idempotency_keys (migration 0006).
const keyConstraint = "idempotency_keys_pkey"

// snapshot is the jsonb a key row keeps of the task in rel: every field a
// response shows. Timestamps are unix microseconds, what the columns
// hold, so the task reads back exactly as written, whatever the session's
// time zone.
func snapshot(rel string) string {
	us := func(col string) string {
		return `(extract(epoch FROM ` + rel + `.` + col + `) * 1000000)::bigint`
	}
	return `jsonb_build_object('guid', ` + rel + `.guid, 'app_guid', ` + rel + `.app_guid,
	'sequence_id', ` + rel + `.sequence_id, 'name', ` + rel + `.name, 'command', ` + rel + `.command,
	'user', ` + rel + `.user_name, 'state', ` + rel + `.state, 'memory_in_mb', ` + rel + `.memory_in_mb,
	'disk_in_mb', ` + rel + `.disk_in_mb, 'log_rate', ` + rel + `.log_rate_limit_in_bytes_per_second,
	'droplet_guid', ` + rel + `.droplet_guid, 'failure_reason', ` + rel + `.failure_reason,
	'labels', ` + rel + `.labels, 'annotations', ` + rel + `.annotations,
	'created_at', ` + us("created_at") + `, 'updated_at', ` + us("updated_at") + `, 'version', ` + rel + `.version)`
}

// taskSnapshot is snapshot's jsonb as Go reads it.
type taskSnapshot struct {
	GUID          string            `json:"guid"`
	AppGUID       string            `json:"app_guid"`
	SequenceID    int64             `json:"sequence_id"`
	Name          string            `json:"name"`
	Command       string            `json:"command"`
	User          string            `json:"user"`
	State         string            `json:"state"`
	MemoryInMB    int64             `json:"memory_in_mb"`
	DiskInMB      *int64            `json:"disk_in_mb"`
	LogRate       int64             `json:"log_rate"`
	DropletGUID   string            `json:"droplet_guid"`
	FailureReason *string           `json:"failure_reason"`
	Labels        map[string]string `json:"labels"`
	Annotations   map[string]string `json:"annotations"`
	CreatedAt     int64             `json:"created_at"`
	UpdatedAt     int64             `json:"updated_at"`
	Version       int64             `json:"version"`
}

func (s *taskSnapshot) task() *tasklife.Task {
	t := &tasklife.Task{
		GUID: s.GUID, AppGUID: s.AppGUID, SequenceID: s.SequenceID, Name: s.Name,
		Command: s.Command, User: s.User, State: tasklife.State(s.State), MemoryInMB: s.MemoryInMB,
		DiskInMB: s.DiskInMB, LogRateLimitInBytesPerSecond: s.LogRate, DropletGUID: s.DropletGUID,
		CreatedAt: time.UnixMicro(s.CreatedAt).UTC(), UpdatedAt: time.UnixMicro(s.UpdatedAt).UTC(),
		Version: s.Version,
	}
	if s.FailureReason != nil {
		t.FailureReason = *s.FailureReason
	}
	if len(s.Labels) > 0 {
		t.Labels = s.Labels
	}
	if len(s.Annotations) > 0 {
		t.Annotations = s.Annotations
	}
	return t
}

// recordKey is a CTE that inserts the key in the parameters starting at
// first (caller, key, fingerprint) for the task in the rows of from.
func recordKey(keys, from string, first int) string {
	p := func(i int) string { return "$" + strconv.Itoa(first+i) + "::text" }
	return `idem AS (
	INSERT INTO ` + keys + ` (caller, key, fingerprint, task, created_at)
	SELECT ` + p(0) + `, ` + p(1) + `, ` + p(2) + `, ` + snapshot("k") + `, clock_timestamp() FROM ` + from + ` k
)`
}

func keyArgs(k *tasklife.IdempotencyKey) []any { return []any{k.Caller, k.Key, k.Fingerprint} }

// keyStatements are the statements of idempotency keys.
type keyStatements struct {
	create, createAudited         string
	transition, transitionAudited string
	record, purge                 string
}

// addKeyStatements derives the keyed create and transition from the plain
// and audited ones, which stay as they were: a schema without
// idempotency_keys (a rolling upgrade) runs them.
func (st *statements) addKeyStatements(schema string) {
	keys := pgx.Identifier{schema, "idempotency_keys"}.Sanitize()
	seqs := pgx.Identifier{schema, "app_sequences"}.Sanitize()
	ins := `ins AS (
` + createInsert(st.tasks) + `
	RETURNING ` + createdColumns + `
)`
	final := `
SELECT ` + createdColumns + `, NULL::text, NULL::timestamptz FROM ins`
	st.keys.create = `WITH ` + createCTEs(seqs) + `, ` + ins + `, ` + recordKey(keys, "ins", 11) + final
	st.keys.createAudited = `WITH ` + createCTEs(seqs) + `, ` + ins + `, ` + recordEvent(st.auditEvents, "ins", 11) +
		`, ` + recordKey(keys, "ins", 16) + final

	// The task the answer shows: as written when upd applied; as it is
	// when it is already in the target state (the no-op, which the
	// statement's snapshot may show from before a concurrent write: a
	// moment during the call, which the contract allows); none otherwise.
	answered := func(first int) string {
		return `(SELECT ` + createdColumns + ` FROM upd
	UNION ALL
	SELECT ` + createdColumns + ` FROM ` + st.tasks + `
	WHERE guid = $1 AND state = $3 AND ($6::text = '' OR owner = $6::text) AND NOT EXISTS (SELECT FROM upd))`
	}
	const split = "\nSELECT true, "
	for _, v := range []struct {
		dst  *string
		src  string
		args int // the parameters before the key's
	}{{&st.keys.transition, st.transition, 7}, {&st.keys.transitionAudited, st.transitionAudited, 12}} {
		if strings.Count(v.src, split) != 1 {
			panic("pgstore: the transition statement changed shape; see addKeyStatements")
		}
		_, rest, _ := strings.Cut(v.src, split)
		head := strings.TrimSuffix(v.src, split+rest)
		*v.dst = head + ", " + recordKey(keys, answered(v.args+1), v.args+1) + split + rest
	}

	st.keys.record = `WITH gone AS (
	DELETE FROM ` + keys + ` WHERE caller = $1 AND key = $2 AND created_at < $3
)
SELECT fingerprint, task, created_at FROM ` + keys + ` WHERE caller = $1 AND key = $2 AND created_at >= $3`
	// = ANY of arrays, as DeleteEnded does, so that the plan finds the
	// rows by primary key; SKIP LOCKED, so that instances purging at once
	// take turns rather than wait.
	st.keys.purge = `WITH due AS (
	SELECT caller, key FROM ` + keys + ` WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
), gone AS (
	DELETE FROM ` + keys + ` k USING due WHERE k.caller = due.caller AND k.key = due.key RETURNING 1
)
SELECT count(*) FROM gone`
}

// keyTaken reports whether err is the unique violation of a key recorded
// before.
func keyTaken(err error) bool {
	if err == nil {
		return false // and no allocation for pgErr, which escapes
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == keyConstraint
}

// CreateWithKey implements tasklife.Store.
func (o *ops) CreateWithKey(ctx context.Context, t *tasklife.Task, audit *tasklife.AuditEvent, key *tasklife.IdempotencyKey) (*tasklife.Task, error) {
	return o.create(ctx, t, audit, key)
}

// IdempotencyRecord implements tasklife.Store: one statement reads the
// record and deletes it if it has expired.
func (o *ops) IdempotencyRecord(ctx context.Context, caller, key string, notBefore time.Time) (*tasklife.IdempotencyRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rec := &tasklife.IdempotencyRecord{IdempotencyKey: tasklife.IdempotencyKey{Caller: caller, Key: key}}
	var raw []byte
	err := o.db.QueryRow(ctx, o.sql.keys.record, caller, key, notBefore).Scan(&rec.Fingerprint, &raw, &rec.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, tasklife.ErrNotFound
	}
	if err != nil {
		return nil, classify(ctx, "idempotency record", err)
	}
	var snap taskSnapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return nil, fmt.Errorf("pgstore: idempotency record %q: %w", key, err)
	}
	rec.Task = snap.task()
	rec.CreatedAt = rec.CreatedAt.UTC()
	return rec, nil
}

// DeleteIdempotencyKeys implements tasklife.Store.
func (o *ops) DeleteIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	if err := o.db.QueryRow(ctx, o.sql.keys.purge, before, limit).Scan(&n); err != nil {
		return 0, classify(ctx, "delete idempotency keys", err)
	}
	return n, nil
}
