package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tasklife/tasklife"
)

// The unique constraints of apps (migration 0007), which tell a taken guid
// from a taken name.
const (
	appGUIDConstraint = "apps_pkey"
	appNameConstraint = "apps_space_name"
)

// appColumns are an app's columns in the order scanApp reads them.
const appColumns = `guid, name, space_guid, labels, annotations, created_at, updated_at`

type appStatements struct {
	create, get string
	// list is the list statement before its ORDER BY, which depends on
	// the query; see ListApps.
	list string
}

func newAppStatements(schema string) appStatements {
	apps := pgx.Identifier{schema, "apps"}.Sanitize()
	return appStatements{
		// date_trunc: what comes back is what is kept, to the microsecond.
		create: `INSERT INTO ` + apps + ` (` + appColumns + `)
SELECT COALESCE(NULLIF($1, ''), gen_random_uuid()::text), $2, $3, $4::jsonb, $5::jsonb, now, now
FROM (SELECT clock_timestamp() AS now) s
RETURNING ` + appColumns,
		get: `SELECT ` + appColumns + ` FROM ` + apps + ` WHERE guid = $1`,
		// The total is counted once, and carried by a row with NULLs when
		// the page is past the end.
		list: `WITH hits AS (
	SELECT ` + appColumns + `, ord FROM ` + apps + `
	WHERE (cardinality($1::text[]) = 0 OR guid = ANY($1::text[]))
	AND (cardinality($2::text[]) = 0 OR name = ANY($2::text[]))
	AND (cardinality($3::text[]) = 0 OR space_guid = ANY($3::text[]))
)
SELECT (SELECT count(*) FROM hits), COALESCE(p.guid, ''), COALESCE(p.name, ''), COALESCE(p.space_guid, ''),
	p.labels, p.annotations, COALESCE(p.created_at, 'epoch'), COALESCE(p.updated_at, 'epoch')
FROM (SELECT 1) one LEFT JOIN LATERAL (
	SELECT * FROM hits ORDER BY `,
	}
}

func scanApp(row pgx.Row, pre ...any) (*tasklife.App, error) {
	var a tasklife.App
	if err := row.Scan(append(pre, &a.GUID, &a.Name, &a.SpaceGUID, &a.Labels, &a.Annotations, &a.CreatedAt, &a.UpdatedAt)...); err != nil {
		return nil, err
	}
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(a.Annotations) == 0 {
		a.Annotations = nil
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return &a, nil
}

// CreateApp implements tasklife.AppStore.
func (o *ops) CreateApp(ctx context.Context, a *tasklife.App) (*tasklife.App, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	labels, err := jsonMap(a.Labels)
	if err != nil {
		return nil, err
	}
	annotations, err := jsonMap(a.Annotations)
	if err != nil {
		return nil, err
	}
	out, err := scanApp(o.db.QueryRow(ctx, o.sql.apps.create, a.GUID, a.Name, a.SpaceGUID, labels, annotations))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case appGUIDConstraint:
			return nil, fmt.Errorf("pgstore: create app: %w", tasklife.ErrAppExists)
		case appNameConstraint:
			return nil, fmt.Errorf("pgstore: create app: %w", tasklife.ErrAppNameTaken)
		}
	}
	if err != nil {
		return nil, classify(ctx, "create app", err)
	}
	return out, nil
}

// GetApp implements tasklife.AppStore.
func (o *ops) GetApp(ctx context.Context, guid string) (*tasklife.App, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := scanApp(o.db.QueryRow(ctx, o.sql.apps.get, guid))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, tasklife.ErrNotFound
	}
	if err != nil {
		return nil, classify(ctx, "get app", err)
	}
	return a, nil
}

// ListApps implements tasklife.AppStore.
func (o *ops) ListApps(ctx context.Context, q tasklife.AppQuery) (*tasklife.AppPage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	col := "created_at"
	switch q.OrderBy {
	case tasklife.OrderByUpdatedAt:
		col = "updated_at"
	case tasklife.OrderByName:
		col = `name COLLATE "C"` // byte order, as memstore sorts
	}
	dir := ""
	if q.Descending {
		dir = " DESC"
	}
	stmt := o.sql.apps.list + col + dir + `, ord` + dir + ` LIMIT $4 OFFSET $5
) p ON true`
	// q passed Normalize: Page and PerPage are at least 1; a huge page
	// saturates rather than overflows.
	perPage, skip := int64(q.PerPage), int64(q.Page-1)
	offset := int64(math.MaxInt64)
	if skip <= math.MaxInt64/perPage {
		offset = skip * perPage
	}
	rows, err := o.db.Query(ctx, stmt, nonNil(q.GUIDs), nonNil(q.Names), nonNil(q.SpaceGUIDs), perPage, offset)
	if err != nil {
		return nil, classify(ctx, "list apps", err)
	}
	defer rows.Close()
	page := &tasklife.AppPage{Apps: []*tasklife.App{}}
	for rows.Next() {
		var total int64
		a, err := scanApp(rows, &total)
		if err != nil {
			return nil, classify(ctx, "list apps", err)
		}
		page.TotalResults = int(total)
		if a.GUID != "" { // "": past the end, the row only carries the total
			page.Apps = append(page.Apps, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(ctx, "list apps", err)
	}
	return page, nil
}

// nonNil is s, or an empty array for SQL's cardinality when s is nil.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
