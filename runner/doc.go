// Package runner runs tasks' work inside the host process, so that a cancel
// stops the work: the host gives it a Work function and a concurrency limit,
// and it takes PENDING tasks in creation order, moves each to RUNNING before
// its work starts, cancels the work's context the moment the task is
// cancelled (context.Cause says why), and records the outcome: nil is
// succeed, an error is fail, a return after the cancel is canceled. Work
// that ignores its cancel is recorded canceled after a grace period, and a
// HardStop hook runs. An outcome the store cannot take is retried until it
// can; a runner that must stop first returns it in an *UnrecordedError for
// the host to keep.
//
//	r := runner.New(svc, func(ctx context.Context, t *tasklife.Task) error {
//		return render(ctx, t.Command) // return when ctx is done
//	}, runner.Config{MaxRunning: 4})
//	err := r.Run(ctx) // until ctx is done; then it stops the work and records it
//
// The runner hears of creates and cancels made through the Service in its
// own process by observing it. Changes made by other processes reach it
// through Notify (with pgstore, from Store.Listen) and, for the tasks it
// runs, through a poll of the store every PollInterval.
//
// Runners that share a store split the tasks between them with
// Config.Accept: a task is run by the one runner that accepts it.
package runner
