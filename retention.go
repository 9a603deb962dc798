package tasklife

import (
	"context"
	"time"
)

// DefaultRetention is how long Cloud Controller keeps a completed task
// (its completed_tasks.cutoff_age_in_days, 31 by default).
const DefaultRetention = 31 * 24 * time.Hour

// deleteBatch is how many tasks one Store.DeleteEnded call deletes: enough
// that a million ended tasks go in a thousand calls, few enough that each
// holds other writers for milliseconds.
const deleteBatch = 1000

// DeleteEnded deletes every SUCCEEDED and FAILED task that ended before
// before, in batches, and returns how many it deleted: what a host runs
// periodically so that a long-running service keeps its tasks bounded.
// Observers hear nothing: a deletion is not a lifecycle event. Whatever a
// batch deleted stays deleted if a later batch fails.
func (s *Service) DeleteEnded(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		n, err := s.store.DeleteEnded(ctx, before, deleteBatch)
		total += n
		if err != nil || n < deleteBatch {
			return total, err
		}
	}
}
