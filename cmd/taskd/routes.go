package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// newHandler serves everything the adapter serves, task creation through
// the executor, and a root document for CF clients. An empty base builds
// links from each request's Host.
func newHandler(svc *tasklife.Service, c creator, token, base string, log *slog.Logger) http.Handler {
	opts := []httpadapter.Option{httpadapter.WithLogger(log)}
	if base != "" {
		opts = append(opts, httpadapter.WithBaseURL(base))
	}
	h := httpadapter.New(svc, httpadapter.BearerToken(token), opts...)
	h.Handle("POST /v3/apps/{guid}/tasks", createHandler(h, c))
	h.Handle("GET /{$}", rootHandler(h))
	return h
}

// errNotAccepting answers a create that arrives during shutdown: the store
// is fine, taskd just runs nothing new.
var errNotAccepting = &httpadapter.Error{
	Status: http.StatusServiceUnavailable, Title: "CF-ServiceUnavailable", Code: 10015,
	Detail: "taskd is shutting down and accepts no new tasks",
}

// createHandler serves POST /v3/apps/{guid}/tasks. Like Cloud Controller it
// checks the caller before it reads the body, and answers 202: the task is
// accepted, PENDING, and will run when a slot is free.
func createHandler(h *httpadapter.Handler, c creator) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := h.AuthenticateToWrite(w, r); !ok {
			return
		}
		req, err := readCreateRequest(w, r)
		if err != nil {
			h.WriteError(w, r, err)
			return
		}
		t, err := c.Create(r.Context(), tasklife.NewTask{
			AppGUID:                      r.PathValue("guid"),
			Name:                         req.Name,
			Command:                      req.Command,
			MemoryInMB:                   req.MemoryInMB,
			DiskInMB:                     req.DiskInMB,
			LogRateLimitInBytesPerSecond: req.LogRate,
			Labels:                       req.Labels,
			Annotations:                  req.Annotations,
		})
		if errors.Is(err, errShuttingDown) {
			err = errNotAccepting
		}
		if err != nil {
			h.WriteError(w, r, err)
			return
		}
		// The creator wrote the command, so it may read it back.
		h.WriteTask(w, r, http.StatusAccepted, t, true)
	}
}

// rootHandler serves GET /, which CF clients read first to find the v3 API.
// Like Cloud Controller's, it needs no credentials.
func rootHandler(h *httpadapter.Handler) http.HandlerFunc {
	type link struct {
		Href string `json:"href"`
	}
	type links struct {
		Self              link `json:"self"`
		CloudControllerV3 link `json:"cloud_controller_v3"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		base := h.BaseURL(r)
		body, err := json.Marshal(struct {
			Links links `json:"links"`
		}{links{Self: link{base}, CloudControllerV3: link{base + "/v3"}}})
		if err != nil {
			h.WriteError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}
