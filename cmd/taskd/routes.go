package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// ccVersion is the Cloud Controller API version taskd's root document
// claims: recent enough that the cf CLI (v8) uses its v3 task routes.
const ccVersion = "3.181.0"

// newHandler is newCFHandler with the default org and space.
func newHandler(svc *tasklife.Service, c creator, token, base string, log *slog.Logger, mounts ...func(*httpadapter.Handler)) http.Handler {
	return newCFHandler(svc, c, token, base, log, defaultFront(), mounts...)
}

// newCFHandler serves everything the adapter serves, task creation through
// the executor (createHook), a root document for CF clients, taskd's UAA
// token endpoint, and apps, one org and one space when the store keeps
// apps. An empty base builds links from each request's Host. Each of
// mounts adds routes (task logs, the console).
func newCFHandler(svc *tasklife.Service, c creator, token, base string, log *slog.Logger, cf cfFront, mounts ...func(*httpadapter.Handler)) http.Handler {
	opts := []httpadapter.Option{httpadapter.WithLogger(log)}
	var register func(ctx context.Context, guid string) error
	if apps := appStoreOf(svc.Store()); apps != nil {
		space := cf.spaceOf()
		opts = append(opts, httpadapter.WithApps(apps, space))
		if cf.strictApps {
			opts = append(opts, httpadapter.WithAppExists(appExists(apps)))
		} else {
			register = registerApp(apps, space.GUID)
		}
	}
	opts = append(opts, httpadapter.WithCreate(createHook(c, register)))
	if base != "" {
		opts = append(opts, httpadapter.WithBaseURL(base))
	}
	h := httpadapter.New(svc, newAuth(token), opts...)
	h.Handle("GET /{$}", rootHandler(h))
	ti := newTokenIssuer(token, h.BaseURL)
	h.Handle("POST /oauth/token", http.HandlerFunc(ti.serveToken))
	h.Handle("GET /login", http.HandlerFunc(ti.serveLogin))
	for _, m := range mounts {
		m(h)
	}
	return h
}

// rootHandler serves GET /, which CF clients read first to find the v3 API
// and where to log in (taskd itself). Like Cloud Controller's, it needs no
// credentials.
func rootHandler(h *httpadapter.Handler) http.HandlerFunc {
	type meta struct {
		Version string `json:"version"`
	}
	type link struct {
		Href string `json:"href"`
		Meta *meta  `json:"meta,omitempty"`
	}
	type links struct {
		Self              link `json:"self"`
		CloudControllerV3 link `json:"cloud_controller_v3"`
		Login             link `json:"login"`
		UAA               link `json:"uaa"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		base := h.BaseURL(r)
		body, err := json.Marshal(struct {
			Links links `json:"links"`
		}{links{Self: link{Href: base}, CloudControllerV3: link{Href: base + "/v3", Meta: &meta{ccVersion}},
			Login: link{Href: base}, UAA: link{Href: base}}})
		if err != nil {
			h.WriteError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}
