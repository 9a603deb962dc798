package pgstore

import (
	"context"
	"time"
)

// DeleteEnded implements tasklife.Store: one statement deletes at most
// limit ended tasks, the oldest first by the tasks_ended index, and skips
// rows another transaction holds rather than wait for them, so it holds
// its row locks for one bounded statement and blocks no writer for long.
func (o *ops) DeleteEnded(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	if err := o.db.QueryRow(ctx, o.sql.deleteEnded, before, limit).Scan(&n); err != nil {
		return 0, classify(ctx, "delete ended", err)
	}
	return n, nil
}

func deleteEndedStatement(tasks string) string {
	// = ANY of an array, as a claim does: the plan finds the rows by
	// primary key whatever it guesses about their number.
	return `WITH gone AS (DELETE FROM ` + tasks + ` WHERE id = ANY(ARRAY(
	SELECT id FROM ` + tasks + `
	WHERE (state = 'SUCCEEDED' OR state = 'FAILED') AND updated_at < $1 -- the predicate of tasks_ended
	ORDER BY updated_at LIMIT $2
	FOR UPDATE SKIP LOCKED)) RETURNING 1)
SELECT count(*) FROM gone`
}
