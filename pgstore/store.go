package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tasklife/tasklife"
)

// DefaultSchema is the schema a Store lives in unless WithSchema says
// otherwise. The library owns it: it holds only tasklife's tables.
const DefaultSchema = "tasklife"

// maxSchemaLen keeps the notification channel, "tasklife." + schema, within
// PostgreSQL's 63-byte identifier limit.
const maxSchemaLen = 63 - len(channelPrefix)

const channelPrefix = "tasklife."

// querier is what the store's statements run on: the pool, or a host's
// transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store is a tasklife.Store in PostgreSQL. It is safe for concurrent use.
// Every operation but List is one SQL statement, sent in one round trip.
type Store struct {
	ops
	pool   *pgxpool.Pool
	schema string
}

// ops are the tasklife.Store methods, on the pool or on a host's
// transaction.
type ops struct {
	db  querier
	sql *statements
	// applied, when set, is told of every create and applied transition.
	applied func(tasklife.Change)
}

// Option configures a Store.
type Option func(*Store)

// WithSchema makes the store keep its tables in schema instead of
// DefaultSchema. The name is used as is (case matters) and may be at most
// 54 bytes long.
func WithSchema(schema string) Option {
	return func(s *Store) { s.schema = schema }
}

// New returns a Store on the host's pool. Call Migrate (or apply the
// Migrations with your own tool) before using it.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	s := &Store{pool: pool, schema: DefaultSchema}
	for _, o := range opts {
		o(s)
	}
	if s.schema == "" || len(s.schema) > maxSchemaLen || strings.IndexByte(s.schema, 0) >= 0 {
		return nil, fmt.Errorf("pgstore: schema name %q must be 1 to %d bytes without NUL", s.schema, maxSchemaLen)
	}
	s.ops = ops{db: pool, sql: newStatements(s.schema)}
	return s, nil
}

var _ tasklife.Store = (*Store)(nil)

// Schema returns the schema the store lives in.
func (s *Store) Schema() string { return s.schema }

// Channel returns the notification channel every committed transition is
// published on (see Listen).
func (s *Store) Channel() string { return channelPrefix + s.schema }

// statements holds the store's SQL with the schema filled in.
type statements struct {
	create, get, transition, canceling string
	update                             string        // a plain transition's write
	createAudited, transitionAudited   string        // see audit.go
	updateMetadata                     string        // see metadata.go
	auditEvents                        string        // the qualified table name
	claim, claimGUIDs, renew, expire   string        // see lease.go
	deleteEnded                        string        // see retention.go
	keys                               keyStatements // see idempotency.go
	apps                               appStatements // see apps.go
	tasks                              string        // the qualified table name, for List
	schema                             string
}

// columns are a task's columns in the order scanTask reads them.
const columns = createdColumns + `,
	owner, lease_expires_at`

// createdColumns are the columns Create writes and reads back: a new task
// has no owner and no lease, so Create also runs on a schema migrated by
// an older version, during a rolling upgrade.
const createdColumns = `guid, app_guid, sequence_id, name, command, user_name, state,
	memory_in_mb, disk_in_mb, log_rate_limit_in_bytes_per_second, droplet_guid,
	failure_reason, labels, annotations, created_at, updated_at, version`

func prefixed(alias string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

func newStatements(schema string) *statements {
	tasks := pgx.Identifier{schema, "tasks"}.Sanitize()
	seqs := pgx.Identifier{schema, "app_sequences"}.Sanitize()
	channel := quoteLiteral(channelPrefix + schema)
	st := &statements{
		schema:      schema,
		tasks:       tasks,
		deleteEnded: deleteEndedStatement(tasks),
		// The upsert on the app's counter row assigns the sequence id and
		// holds that row locked until commit, so creates for one app take
		// turns and ids are gap-free. The timestamp is read after the lock
		// (MATERIALIZED keeps it one value for both columns), so created_at
		// follows sequence order within an app.
		create: `WITH ` + createCTEs(seqs) + `
` + createInsert(tasks) + `
RETURNING ` + createdColumns + `, NULL::text, NULL::timestamptz`,

		get: `SELECT ` + columns + ` FROM ` + tasks + ` WHERE guid = $1`,

		// A plain transition is one guarded UPDATE when the guard holds:
		// it writes the row and, through prev_state (SET reads the old
		// row), reports the state it left. Under READ COMMITTED an UPDATE
		// that waited for a concurrent writer re-checks its WHERE on the
		// committed row, so it applies only to a state the event may
		// leave, and prev_state is that state. Its RETURNING also
		// publishes the change (sent, a void column the scan skips): it is
		// computed for every row written, and only for those, and
		// PostgreSQL delivers the notification at commit, never after a
		// rollback. The fence ($6, an owner) joins the guard, so the
		// re-check after a wait covers it too.
		//
		// Only when it writes nothing does Transition read the row (get),
		// to tell a no-op, a refusal and a missing task apart: a second
		// statement, so a later snapshot than the UPDATE's, which may show
		// a concurrent winner's write or a task created since; the Store
		// contract allows either (the Service asks again when the row it
		// is shown would allow the event). No row means no task.
		//
		// updated_at and canceling_since each read the clock on the row as
		// written, after any wait: canceling_since is updated_at, or later
		// by the time between the two reads (a microsecond tick in about
		// 3% of cancels, tens of microseconds if the backend is
		// descheduled in between), which a cancel deadline cannot tell
		// apart. A step to a terminal state ($7) ends the lease.
		//
		// Measured on the server's CPU for a cancel against a bare guarded
		// UPDATE (see BenchmarkPGCancel; issue 19): the UPDATE in a CTE
		// with the read as a second branch of the same statement (the
		// transition statement below) cost 1.16x, this UPDATE 1.08x, of
		// which the notification is 5%; a sub-SELECT that read the clock
		// once for both columns cost 6% more, and building the payload by
		// concatenation instead of json_build_object nothing less.
		update: `UPDATE ` + tasks + `
SET ` + transitionSet + `
WHERE ` + transitionGuard + `
RETURNING ` + notify(channel, "$5::text") + `, prev_state, ` + columns,

		// transition is the same step with its refusal's read in one
		// statement: the audited and keyed transitions (audit.go,
		// idempotency.go) are built from it, since the event or the key
		// they record must be written in the statement that decides. UNION
		// ALL returns its branches in order (a statement that writes is
		// never parallel), so LIMIT 1 stops at upd's row; the second
		// branch, run only when upd wrote nothing, reads the row as of the
		// statement's snapshot, which may predate a concurrent winner.
		transition: `WITH upd AS (
	UPDATE ` + tasks + `
	SET ` + transitionSet + `
	WHERE ` + transitionGuard + `
	RETURNING prev_state, ` + columns + `, ` + notify(channel, "$5::text") + `
)
SELECT true, prev_state, ` + columns + ` FROM upd
UNION ALL
SELECT false, NULL, ` + columns + ` FROM ` + tasks + ` WHERE guid = $1
LIMIT 1`,

		canceling: `SELECT guid, app_guid, version FROM ` + tasks + ` WHERE state = ` + quoteLiteral(string(tasklife.StateCanceling)),
	}
	st.addLeaseStatements(channel)
	st.addAuditStatements(schema)
	st.addKeyStatements(schema)
	st.apps = newAppStatements(schema)
	st.updateMetadata = metadataStatement(tasks)
	return st
}

// transitionSet and transitionGuard are a transition's SET and WHERE:
// $1 the guid, $2 the states the event may leave, $3 the state it enters,
// $4 the failure reason, $6 the owner it is fenced by (” for none), $7
// whether $3 is terminal.
var (
	transitionSet = `prev_state = state, state = $3, failure_reason = NULLIF($4, ''), version = version + 1,
	updated_at = ` + nextUpdatedAt + `,
	canceling_since = CASE WHEN $3::text = ` + quoteLiteral(string(tasklife.StateCanceling)) + ` THEN ` + nextUpdatedAt + ` ELSE canceling_since END,
	lease_expires_at = CASE WHEN $7::boolean THEN NULL ELSE lease_expires_at END`
	transitionGuard = `guid = $1 AND state = ANY($2::text[]) AND ($6::text = '' OR owner = $6::text)`
)

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// jsonMap encodes m for a jsonb column, an empty map as SQL NULL so it reads
// back as a nil map. It is text, not a map, so that every pgx query mode
// (including exec and simple protocol, used behind poolers) can send it.
func jsonMap(m map[string]string) (*string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// createCTEs assign a new task's sequence id and timestamp.
func createCTEs(seqs string) string {
	return `seq AS (
	INSERT INTO ` + seqs + ` AS a (app_guid, last_sequence_id) VALUES ($1, 1)
	ON CONFLICT (app_guid) DO UPDATE SET last_sequence_id = a.last_sequence_id + 1
	RETURNING last_sequence_id
), stamp AS MATERIALIZED (
	SELECT last_sequence_id, clock_timestamp() AS now FROM seq
)`
}

// createInsert inserts the task createCTEs stamped, from $1 to $10.
func createInsert(tasks string) string {
	return `INSERT INTO ` + tasks + ` (` + createdColumns + `)
SELECT gen_random_uuid()::text, $1, stamp.last_sequence_id, $2, $3, $4, ` + quoteLiteral(string(tasklife.StatePending)) + `,
	$5, $6, $7, $8, NULL, $9::jsonb, $10::jsonb, stamp.now, stamp.now, 1
FROM stamp`
}

// Create implements tasklife.Store.
func (o *ops) Create(ctx context.Context, t *tasklife.Task, audit *tasklife.AuditEvent) (*tasklife.Task, error) {
	return o.create(ctx, t, audit, nil)
}

// create is Create that records key, when it is set, in the same statement.
func (o *ops) create(ctx context.Context, t *tasklife.Task, audit *tasklife.AuditEvent, key *tasklife.IdempotencyKey) (*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	labels, err := jsonMap(t.Labels)
	if err != nil {
		return nil, err
	}
	annotations, err := jsonMap(t.Annotations)
	if err != nil {
		return nil, err
	}
	stmt, args := o.sql.create, []any{t.AppGUID, t.Name, t.Command, t.User,
		t.MemoryInMB, t.DiskInMB, t.LogRateLimitInBytesPerSecond, t.DropletGUID,
		labels, annotations}
	switch {
	case audit != nil && key != nil:
		stmt, args = o.sql.keys.createAudited, append(append(args, auditArgs(audit)...), keyArgs(key)...)
	case audit != nil:
		stmt, args = o.sql.createAudited, append(args, auditArgs(audit)...)
	case key != nil:
		stmt, args = o.sql.keys.create, append(args, keyArgs(key)...)
	}
	out, err := scanTask(o.db.QueryRow(ctx, stmt, args...))
	if keyTaken(err) {
		return nil, fmt.Errorf("pgstore: create: %w", tasklife.ErrIdempotencyKeyExists)
	}
	if err != nil {
		return nil, classify(ctx, "create", err)
	}
	if o.applied != nil {
		o.applied(tasklife.Change{Task: out.Clone(), To: tasklife.StatePending, Event: tasklife.EventCreate, Actor: actorOf(audit)})
	}
	return out, nil
}

// Get implements tasklife.Store.
func (o *ops) Get(ctx context.Context, guid string) (*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := scanTask(o.db.QueryRow(ctx, o.sql.get, guid))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, tasklife.ErrNotFound
	}
	if err != nil {
		return nil, classify(ctx, "get", err)
	}
	return t, nil
}

// Transition implements tasklife.Store.
func (o *ops) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	if err := ctx.Err(); err != nil {
		return tasklife.TransitionResult{}, err
	}
	from := make([]string, len(req.From))
	for i, st := range req.From {
		from[i] = string(st)
	}
	args := []any{req.GUID, from, string(req.To), req.FailureReason, string(req.Event), req.Owner, req.To.Terminal()}
	r := new(taskRow)
	var t *tasklife.Task
	var err error
	if req.Audit == nil && req.Idempotency == nil {
		// Plain: the UPDATE alone, and the read only when it wrote
		// nothing (see statements.update). nil skips sent, the
		// notification's void column.
		t, err = r.scan(o.db.QueryRow(ctx, o.sql.update, args...), nil, &r.prev)
		r.applied = err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			t, err = r.scan(o.db.QueryRow(ctx, o.sql.get, req.GUID))
		}
	} else {
		// Audited or keyed: one statement that writes, records the event
		// or the key, and reads the row when refused (prev is then NULL).
		var stmt string
		if req.Audit != nil {
			stmt, args = o.sql.transitionAudited, append(args, auditArgs(req.Audit)...)
		}
		if req.Idempotency != nil {
			stmt = o.sql.keys.transition
			if req.Audit != nil {
				stmt = o.sql.keys.transitionAudited
			}
			args = append(args, keyArgs(req.Idempotency)...)
		}
		t, err = r.scan(o.db.QueryRow(ctx, stmt, args...), &r.applied, &r.prev)
	}
	if keyTaken(err) {
		return tasklife.TransitionResult{}, fmt.Errorf("pgstore: %s: %w", req.Event, tasklife.ErrIdempotencyKeyExists)
	}
	// QueryRow reports ErrNoRows only when the statement itself succeeded:
	// a lost connection is never mistaken for a missing task.
	if errors.Is(err, pgx.ErrNoRows) {
		return tasklife.TransitionResult{}, tasklife.ErrNotFound
	}
	if err != nil {
		return tasklife.TransitionResult{}, classify(ctx, string(req.Event), err)
	}
	res := tasklife.TransitionResult{Task: t, Applied: r.applied}
	if r.applied {
		res.From = tasklife.State(r.prev.String)
		if o.applied != nil {
			c := tasklife.Change{Task: t.Clone(), From: res.From, To: req.To, Event: req.Event, Actor: actorOf(req.Audit)}
			if req.Audit != nil {
				c.Reason = req.Audit.Reason
			}
			o.applied(c)
		}
	}
	return res, nil
}

// List implements tasklife.Store. One statement returns the page and the
// total (the count is an InitPlan: it runs once, in the same snapshot). Only
// a page past the end, which has no rows to carry the total, costs a second
// statement to count.
func (o *ops) List(ctx context.Context, q tasklife.ListQuery) (*tasklife.Page, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	where, args := listFilter(q)
	page := &tasklife.Page{Tasks: []*tasklife.Task{}}
	// q passed tasklife.ListQuery.Normalize: Page and PerPage are at least 1.
	perPage := int64(q.PerPage)
	skip := int64(q.Page - 1)
	if skip > math.MaxInt64/perPage {
		return o.countOnly(ctx, where, args, page)
	}

	stmt, pageArgs := o.sql.listPage(q, where, args, perPage, skip*perPage)
	// Planned with its values every time (an unnamed statement), as Cloud
	// Controller's lists are: a cached generic plan cannot use the partial
	// index of one state, and counted 1,000,000 rows for state=CANCELING
	// (104 ms against 4 ms).
	rows, err := o.db.Query(ctx, stmt, append([]any{pgx.QueryExecModeExec}, pageArgs...)...)
	if err != nil {
		return nil, classify(ctx, "list", err)
	}
	defer rows.Close()
	for rows.Next() {
		var total int64
		t, err := scanTask(rows, &total)
		if err != nil {
			return nil, classify(ctx, "list", err)
		}
		page.TotalResults = int(total)
		page.Tasks = append(page.Tasks, t)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(ctx, "list", err)
	}
	if len(page.Tasks) == 0 && skip > 0 {
		return o.countOnly(ctx, where, args, page)
	}
	return page, nil
}

// listPage returns the statement for one page of q, filtered by where and
// args, and its arguments.
func (sql *statements) listPage(q tasklife.ListQuery, where string, args []any, limit, offset int64) (string, []any) {
	key, dir := "created_at", "ASC"
	if q.OrderBy == tasklife.OrderByUpdatedAt {
		key = "updated_at"
	}
	if q.Descending {
		dir = "DESC"
	}
	n := len(args)
	args = append(args[:n:n], limit, offset) // never into the caller's array
	stmt := `SELECT (SELECT count(*) FROM ` + sql.tasks + where + `), ` + columns +
		` FROM ` + sql.tasks + where +
		` ORDER BY ` + key + ` ` + dir + `, id ` + dir +
		` LIMIT $` + strconv.Itoa(n+1) + ` OFFSET $` + strconv.Itoa(n+2)
	return stmt, args
}

func (o *ops) countOnly(ctx context.Context, where string, args []any, page *tasklife.Page) (*tasklife.Page, error) {
	var total int64
	if err := o.db.QueryRow(ctx, `SELECT count(*) FROM `+o.sql.tasks+where, args...).Scan(&total); err != nil {
		return nil, classify(ctx, "list", err)
	}
	page.TotalResults = int(total)
	return page, nil
}
