package main

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// newHandler serves everything the adapter serves, task creation through
// the executor (createHook), and a root document for CF clients. An empty base builds
// links from each request's Host. Each of mounts adds routes (task logs,
// the console).
func newHandler(svc *tasklife.Service, c creator, token, base string, log *slog.Logger, mounts ...func(*httpadapter.Handler)) http.Handler {
	opts := []httpadapter.Option{httpadapter.WithLogger(log), httpadapter.WithCreate(createHook(c))}
	if base != "" {
		opts = append(opts, httpadapter.WithBaseURL(base))
	}
	h := httpadapter.New(svc, httpadapter.BearerToken(token), opts...)
	h.Handle("GET /{$}", rootHandler(h))
	for _, m := range mounts {
		m(h)
	}
	return h
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
