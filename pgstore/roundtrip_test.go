package pgstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// roundTrips counts what the pool sends that costs a round trip: queries
// (Query, QueryRow, Exec) and statement preparations.
type roundTrips struct {
	mu  sync.Mutex
	sql []string
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, d.SQL)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, "PREPARE "+d.SQL)
	return ctx
}

func (r *roundTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// count runs fn and returns the statements it sent.
func (r *roundTrips) count(fn func()) []string {
	r.mu.Lock()
	r.sql = nil
	r.mu.Unlock()
	fn()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sql
}

// TestOneRoundTripPerOperation counts the statements each operation sends:
// one, whether it writes, is a no-op, is refused or finds nothing, except
// for a plain transition that writes nothing: its UPDATE, then the read
// that says why (the price of a bare UPDATE for every transition that
// applies, issue 19; see statements.update). It runs in pgx's default
// mode, warmed up (the first use of a statement on a connection also
// prepares it), and in exec mode, which never prepares.
func TestOneRoundTripPerOperation(t *testing.T) {
	t.Parallel()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			rt := &roundTrips{}
			cfg := pgtest.Config(t)
			cfg.ConnConfig.Tracer = rt
			cfg.ConnConfig.DefaultQueryExecMode = mode
			cfg.MaxConns = 1 // every statement prepared once is prepared for all
			store := pgtest.StoreOn(t, pgtest.NewPool(t, cfg))
			svc := tasklife.New(store)
			ctx := context.Background()
			app := uuid.NewString()

			create := func(t *testing.T) string {
				task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: app, Command: "true", Labels: map[string]string{"k": "v"}})
				require.NoError(t, err)
				return task.GUID
			}
			apply := func(ev tasklife.Event) func(t *testing.T, guid string) {
				return func(t *testing.T, guid string) {
					_, err := svc.Apply(ctx, guid, ev, "boom")
					require.NoError(t, err)
				}
			}
			// Each sequence takes a fresh task through its events; the last
			// one is counted.
			sequences := []struct {
				name   string
				events []tasklife.Event
				last   func(t *testing.T, guid string)
			}{
				{"create", nil, func(t *testing.T, _ string) { create(t) }},
				{"get", nil, func(t *testing.T, guid string) {
					_, err := svc.Get(ctx, guid)
					require.NoError(t, err)
				}},
				{"get not found", nil, func(t *testing.T, _ string) {
					_, err := svc.Get(ctx, uuid.NewString())
					require.ErrorIs(t, err, tasklife.ErrNotFound)
				}},
				{"start", nil, apply(tasklife.EventStart)},
				{"cancel", []tasklife.Event{tasklife.EventStart}, apply(tasklife.EventCancel)},
				{"cancel no-op", []tasklife.Event{tasklife.EventCancel}, apply(tasklife.EventCancel)},
				{"cancel invalid", []tasklife.Event{tasklife.EventFail}, func(t *testing.T, guid string) {
					_, err := svc.Cancel(ctx, guid)
					require.ErrorIs(t, err, tasklife.ErrInvalidTransition)
				}},
				{"cancel not found", nil, func(t *testing.T, _ string) {
					_, err := svc.Cancel(ctx, uuid.NewString())
					require.ErrorIs(t, err, tasklife.ErrNotFound)
				}},
				{"succeed", []tasklife.Event{tasklife.EventStart}, apply(tasklife.EventSucceed)},
				{"fail", []tasklife.Event{tasklife.EventStart}, apply(tasklife.EventFail)},
				{"canceled", []tasklife.Event{tasklife.EventStart, tasklife.EventCancel}, apply(tasklife.EventCanceled)},
				{"create with its audit event", nil, func(t *testing.T, _ string) {
					_, err := svc.Create(ctx, tasklife.NewTask{AppGUID: app, Command: "true", Actor: &tasklife.Actor{GUID: "u"}})
					require.NoError(t, err)
				}},
				{"cancel with its audit event", []tasklife.Event{tasklife.EventStart}, func(t *testing.T, guid string) {
					_, err := svc.CancelBy(ctx, guid, tasklife.Actor{GUID: "u"}, "why")
					require.NoError(t, err)
				}},
				{"audited cancel no-op", []tasklife.Event{tasklife.EventCancel}, func(t *testing.T, guid string) {
					_, err := svc.CancelBy(ctx, guid, tasklife.Actor{GUID: "u"}, "")
					require.NoError(t, err)
				}},
				{"update metadata", nil, func(t *testing.T, guid string) {
					v := "w"
					_, err := svc.UpdateMetadata(ctx, guid, tasklife.MetadataPatch{Labels: map[string]*string{"k": &v, "x": nil}})
					require.NoError(t, err)
				}},
				{"audit events", nil, func(t *testing.T, _ string) {
					_, err := svc.AuditEvents(ctx, tasklife.AuditQuery{TargetGUIDs: []string{app}})
					require.NoError(t, err)
				}},
				{"list", nil, func(t *testing.T, _ string) {
					page, err := svc.List(ctx, tasklife.ListQuery{AppGUIDs: []string{app}, States: []tasklife.State{tasklife.StatePending}})
					require.NoError(t, err)
					require.NotZero(t, page.TotalResults)
				}},
			}
			// The statements after the first: a refused plain transition's
			// read.
			reads := map[string]int{"cancel no-op": 1, "cancel invalid": 1, "cancel not found": 1}
			for _, warm := range []bool{true, false} {
				for _, seq := range sequences {
					guid := create(t)
					for _, ev := range seq.events {
						apply(ev)(t, guid)
					}
					sent := rt.count(func() { seq.last(t, guid) })
					if warm && mode == pgx.QueryExecModeCacheStatement {
						continue // the first run prepares
					}
					require.Len(t, sent, 1+reads[seq.name], "%s sent %q", seq.name, sent)
				}
			}
		})
	}
}
