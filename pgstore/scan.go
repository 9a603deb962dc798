package pgstore

import (
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tasklife/tasklife"
)

// taskRow is everything one task's row is scanned into, allocated at once:
// the task and the nullable columns' holders, and the destinations that
// point into them. Scanning into locals cost an allocation for each one
// that escapes into Scan's interfaces, and pgtype's holders need no
// pointer-to-pointer wrapping (one allocation more per column, per row).
type taskRow struct {
	t                    tasklife.Task
	failureReason, owner pgtype.Text
	lease                pgtype.Timestamptz
	// applied and prev are a transition's leading columns (see
	// ops.Transition).
	applied bool
	prev    pgtype.Text
	dest    [2 + 19]any
}

// scanTask reads one task in the order of columns, after the leading
// destinations in pre.
func scanTask(row pgx.Row, pre ...any) (*tasklife.Task, error) {
	return new(taskRow).scan(row, pre...)
}

// scan reads one task into r in the order of columns, after the leading
// destinations in pre (at most two), and returns r's task.
func (r *taskRow) scan(row pgx.Row, pre ...any) (*tasklife.Task, error) {
	t := &r.t
	dest := append(append(r.dest[:0], pre...),
		&t.GUID, &t.AppGUID, &t.SequenceID, &t.Name, &t.Command, &t.User, (*string)(&t.State),
		&t.MemoryInMB, &t.DiskInMB, &t.LogRateLimitInBytesPerSecond, &t.DropletGUID,
		&r.failureReason, &t.Labels, &t.Annotations, &t.CreatedAt, &t.UpdatedAt, &t.Version,
		&r.owner, &r.lease)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	t.FailureReason = r.failureReason.String
	// A store hands out nil for an empty map, as memstore does.
	if len(t.Labels) == 0 {
		t.Labels = nil
	}
	if len(t.Annotations) == 0 {
		t.Annotations = nil
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	t.Owner = r.owner.String
	if r.lease.Valid {
		t.LeaseExpiresAt = r.lease.Time.UTC()
	}
	return t, nil
}
