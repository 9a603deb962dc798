package pgstore

import (
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tasklife/tasklife"
)

// auditColumns are an event's columns in the order scanEvent reads them.
const auditColumns = `guid, type, actor_guid, actor_type, actor_name, reason,
	target_guid, task_guid, task_name, memory_in_mb, created_at`

// recordEvent is a CTE that inserts the audit event of the rows in from
// (a task as written), with its template in the parameters starting at
// first: type, actor guid, type, name, reason. A CTE that writes runs
// whether or not it is read, in the statement's transaction.
func recordEvent(events, from string, first int) string {
	p := func(i int) string { return "$" + strconv.Itoa(first+i) + "::text" }
	return `ev AS (
	INSERT INTO ` + events + ` (` + auditColumns + `)
	SELECT gen_random_uuid()::text, ` + p(0) + `, ` + p(1) + `, ` + p(2) + `, ` + p(3) + `, ` + p(4) + `,
		app_guid, guid, name, memory_in_mb, updated_at FROM ` + from + `
)`
}

// auditArgs are an audit template's parameters for recordEvent.
func auditArgs(a *tasklife.AuditEvent) []any {
	return []any{a.Type, a.Actor.GUID, a.Actor.Type, a.Actor.Name, a.Reason}
}

func actorOf(a *tasklife.AuditEvent) *tasklife.Actor {
	if a == nil {
		return nil
	}
	actor := a.Actor
	return &actor
}

// addAuditStatements derives the audited create and transition from the
// plain ones: the same statement with the event's insert as one more CTE,
// so a change and its event are one round trip and one transaction. The
// plain statements stay as they were, and run on a schema without
// audit_events (a rolling upgrade).
func (st *statements) addAuditStatements(schema string) {
	events := pgx.Identifier{schema, "audit_events"}.Sanitize()
	st.auditEvents = events
	st.createAudited = `WITH ` + createCTEs(pgx.Identifier{schema, "app_sequences"}.Sanitize()) + `, ins AS (
` + createInsert(st.tasks) + `
	RETURNING ` + createdColumns + `
), ` + recordEvent(events, "ins", 11) + `
SELECT ` + createdColumns + `, NULL::text, NULL::timestamptz FROM ins`

	const split = "\n)\nSELECT true, "
	if strings.Count(st.transition, split) != 1 {
		panic("pgstore: the transition statement changed shape; see addAuditStatements")
	}
	st.transitionAudited = strings.Replace(st.transition, split, "\n), "+recordEvent(events, "upd", 8)+"\nSELECT true, ", 1)
}

// AuditEvents implements tasklife.Store, as List does: one statement for
// the page and the total.
func (o *ops) AuditEvents(ctx context.Context, q tasklife.AuditQuery) (*tasklife.AuditPage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var f filter
	addValues(&f, "type", q.Types)
	addValues(&f, "target_guid", q.TargetGUIDs)
	f.addTime("created_at", q.CreatedAts)
	where := f.where()
	page := &tasklife.AuditPage{Events: []*tasklife.AuditEvent{}}
	perPage, skip := int64(q.PerPage), int64(q.Page-1)
	if skip > math.MaxInt64/perPage {
		skip = math.MaxInt64 / perPage
	}
	dir := "ASC"
	if q.Descending {
		dir = "DESC"
	}
	n := len(f.args)
	stmt := `SELECT (SELECT count(*) FROM ` + o.sql.auditEvents + where + `), ` + auditColumns +
		` FROM ` + o.sql.auditEvents + where + ` ORDER BY created_at ` + dir + `, id ` + dir +
		` LIMIT $` + strconv.Itoa(n+1) + ` OFFSET $` + strconv.Itoa(n+2)
	rows, err := o.db.Query(ctx, stmt, append(f.args, perPage, skip*perPage)...)
	if err != nil {
		return nil, classify(ctx, "audit events", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			total int64
			e     tasklife.AuditEvent
		)
		if err := rows.Scan(&total, &e.GUID, &e.Type, &e.Actor.GUID, &e.Actor.Type, &e.Actor.Name, &e.Reason,
			&e.TargetGUID, &e.TaskGUID, &e.TaskName, &e.MemoryInMB, &e.CreatedAt); err != nil {
			return nil, classify(ctx, "audit events", err)
		}
		e.CreatedAt = e.CreatedAt.UTC()
		page.TotalResults = int(total)
		page.Events = append(page.Events, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(ctx, "audit events", err)
	}
	if len(page.Events) == 0 && skip > 0 {
		var total int64
		if err := o.db.QueryRow(ctx, `SELECT count(*) FROM `+o.sql.auditEvents+where, f.args...).Scan(&total); err != nil {
			return nil, classify(ctx, "audit events", err)
		}
		page.TotalResults = int(total)
	}
	return page, nil
}
