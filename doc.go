// Package tasklife gives a Go service a correct task lifecycle: PENDING,
// RUNNING, CANCELING, SUCCEEDED and FAILED, with idempotent events, atomic
// guarded transitions in the store, and observers that learn of every
// committed change. It reproduces the semantics of the Cloud Foundry v3 tasks
// API; the httpadapter package serves that API over HTTP. docs/contract.md
// in the repository is the full contract.
//
// Use it:
//
//	svc := tasklife.New(memstore.New())
//	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "echo hi"})
//	if err == nil {
//		task, err = svc.Cancel(ctx, task.GUID) // PENDING -> CANCELING
//	}
package tasklife
