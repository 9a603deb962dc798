package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"time"

	"github.com/tasklife/tasklife"
)

// retention is how long taskd keeps a task after it ended, so that a
// service that runs tasks for months holds a bounded number of them.
type retention struct {
	keep time.Duration // 0: keep everything
	// deleted, when set, hears each pass's cutoff (what ended before it
	// is gone, or goes: task logs) and how many tasks it deleted.
	deleted func(before time.Time, n int)
}

func (r *retention) flags(fs *flag.FlagSet) {
	fs.DurationVar(&r.keep, "retention", tasklife.DefaultRetention, "how long a SUCCEEDED or FAILED task is kept after it ended (Cloud Controller's default: 31 days); 0: keep every task")
}

func (r *retention) check() error {
	if r.keep < 0 {
		return errors.New("-retention must not be negative")
	}
	return nil
}

// every is how often the deletion runs: a tenth of the retention, so that
// a task outlives it by at most 10%, and at most hourly.
func (r *retention) every() time.Duration {
	if r.keep == 0 {
		return time.Hour // expired idempotency keys only
	}
	return min(r.keep/10, time.Hour)
}

// start deletes ended tasks older than the retention (none with a
// retention of 0) and expired idempotency keys now and then every
// interval, until the returned stop is called. On PostgreSQL every
// instance runs it: a batch skips the rows another is deleting.
func (r *retention) start(svc *tasklife.Service, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(max(r.every(), time.Millisecond))
		defer tick.Stop()
		for {
			if r.keep > 0 {
				before := time.Now().Add(-r.keep)
				n, err := svc.DeleteEnded(ctx, before)
				if r.deleted != nil {
					r.deleted(before, n)
				}
				switch {
				case err != nil && ctx.Err() == nil:
					log.Warn("deleting ended tasks failed; retrying later", "error", err)
				case n > 0:
					log.Info("deleted ended tasks", "tasks", n, "older than", r.keep)
				}
			}
			// Expired keys are ignored already; this bounds the table.
			switch n, err := svc.DeleteExpiredKeys(ctx, time.Now()); {
			case err != nil && ctx.Err() == nil:
				log.Warn("deleting expired idempotency keys failed; retrying later", "error", err)
			case n > 0:
				log.Info("deleted expired idempotency keys", "keys", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
