package main

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// creator stores a new task and schedules it; the executor is one.
type creator interface {
	Create(ctx context.Context, nt tasklife.NewTask) (*tasklife.Task, error)
}

// errNotAccepting answers a create that arrives during shutdown: the store
// is fine, taskd just runs nothing new.
var errNotAccepting = &httpadapter.Error{
	Status: http.StatusServiceUnavailable, Title: "CF-ServiceUnavailable", Code: 10015,
	Detail: "taskd is shutting down and accepts no new tasks",
}

// createHook is taskd's part of POST /v3/apps/{guid}/tasks, which the
// adapter serves: one token (whoever holds it may create anywhere), and
// apps checked by the adapter (-strict-apps) or registered by register,
// when it is set, once the request has passed every check. What is left
// is its reserved annotations and handing the task to the executor. The
// default log rate limit is the executor's (-log-rate-limit).
func createHook(c creator, register func(ctx context.Context, appGUID string) error) httpadapter.CreateFunc {
	return func(ctx context.Context, _ httpadapter.Principal, nt tasklife.NewTask) (*tasklife.Task, error) {
		for k := range nt.Annotations {
			if strings.HasPrefix(k, reservedPrefix) {
				// taskd's own annotations say which instance runs the task;
				// a client that could set them could hand it to another.
				return nil, httpadapter.UnprocessableEntity("Metadata annotations key error: prefix '" +
					strings.TrimSuffix(reservedPrefix, "/") + "' is reserved")
			}
		}
		if register != nil {
			if err := register(ctx, nt.AppGUID); err != nil {
				return nil, err
			}
		}
		t, err := c.Create(ctx, nt)
		if errors.Is(err, errShuttingDown) {
			return nil, errNotAccepting
		}
		return t, err
	}
}
