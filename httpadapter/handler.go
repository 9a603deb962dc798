package httpadapter

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/tasklife/tasklife"
)

// Handler serves the Cloud Foundry v3 task routes. It is an http.Handler,
// safe for concurrent use; create it with New.
type Handler struct {
	svc    *tasklife.Service
	auth   Authorizer
	logger *slog.Logger
	// baseURL and trustForwardedHeaders decide where links point; see
	// BaseURL.
	baseURL               string
	trustForwardedHeaders bool
	appExists             func(ctx context.Context, p Principal, appGUID string) (bool, error)
	createTask            CreateFunc
	apps                  tasklife.AppStore // WithApps; nil: no app routes
	space                 Space
	mux                   *http.ServeMux
	waits                 waitLimits // long polls and event streams
	inflight              inflight   // idempotency keys being served; see idempotency.go

	mu      sync.Mutex
	methods []string // every method a registered pattern names, for Allow
}

// Option configures a Handler.
type Option func(*Handler)

// WithBaseURL sets the absolute URL clients reach the API at, e.g.
// "https://api.example.com", or "https://example.com/cf" when the Handler is
// mounted under /cf. Links in responses start with it. Without it links are
// built from each request's Host, which a client controls: fit for
// development only.
func WithBaseURL(base string) Option {
	return func(h *Handler) { h.baseURL = base }
}

// WithTrustForwardedHeaders makes a Handler without a base URL build links
// from X-Forwarded-Proto and X-Forwarded-Host. Use it only behind a proxy
// that sets or strips them on every request.
func WithTrustForwardedHeaders() Option {
	return func(h *Handler) { h.trustForwardedHeaders = true }
}

// WithLogger sets where the Handler logs unknown errors and recovered
// panics. The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(h *Handler) { h.logger = l }
}

// WithAppExists gives the per-app routes a way to tell an app that does not
// exist (or that p may not see), answered 404 "App not found" as Cloud
// Controller does: the per-app list, and a create (after the body is
// validated, before the CreateFunc runs, in Cloud Controller's order).
// Without it the adapter knows no apps: every app guid lists its tasks,
// possibly none, and the CreateFunc decides about the app.
func WithAppExists(exists func(ctx context.Context, p Principal, appGUID string) (bool, error)) Option {
	return func(h *Handler) { h.appExists = exists }
}

// New returns a Handler serving svc's tasks, asking auth who may do what.
// It panics if svc or auth is nil: there is no default authorizer, so that
// no host gets an open server by accident (InsecureAllowAll is one on
// purpose).
func New(svc *tasklife.Service, auth Authorizer, opts ...Option) *Handler {
	if svc == nil {
		panic("httpadapter: New needs a *tasklife.Service")
	}
	if auth == nil {
		panic("httpadapter: New needs an Authorizer; BearerToken or, for demos, InsecureAllowAll")
	}
	h := &Handler{svc: svc, auth: auth, logger: slog.Default(), mux: http.NewServeMux(), waits: defaultWaitLimits()}
	for _, o := range opts {
		o(h)
	}
	h.waits.slots = make(chan struct{}, h.waits.maxOpen)
	h.handleFunc("POST /v3/tasks/{guid}/actions/cancel", h.cancel)
	h.handleFunc("PUT /v3/tasks/{guid}/cancel", h.cancel)
	h.handleFunc("GET /v3/tasks/{guid}", h.get)
	h.handleFunc("GET /v3/tasks/{guid}/events", h.events)
	h.handleFunc("PATCH /v3/tasks/{guid}", h.update)
	h.handleFunc("GET /v3/tasks", h.list)
	h.handleFunc("GET /v3/apps/{guid}/tasks", h.listForApp)
	h.handleFunc("GET /v3/audit_events", h.auditEvents)
	if h.createTask != nil {
		h.handleFunc("POST /v3/apps/{guid}/tasks", h.create)
	}
	if h.apps != nil {
		h.handleApps()
	}
	// Everything no pattern claims lands here, so that unknown paths and
	// wrong methods get the CF envelope instead of ServeMux's plain text.
	h.mux.HandleFunc("/", h.unrouted)
	return h
}

func (h *Handler) handleFunc(pattern string, f http.HandlerFunc) { h.Handle(pattern, f) }

// Handle registers a host route on the Handler's own mux, next to the task
// routes, with the same pattern syntax as http.ServeMux. It lets a host add
// routes (task creation, say) and still have every unknown path answered
// with the CF envelope and wrong methods with 405 and Allow. Register
// before serving. A pattern must not claim what the adapter answers: use
// "GET /{$}" for a root document, since "GET /" would swallow every unknown
// GET. Handle panics on a conflicting pattern, as ServeMux does.
func (h *Handler) Handle(pattern string, handler http.Handler) {
	h.mux.Handle(pattern, handler)
	method, _, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || strings.Contains(method, "/") {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.methods, method) {
		h.methods = append(h.methods, method)
	}
}

// ServeHTTP answers r. Panics in host hooks and host routes are recovered
// into a 500 UnknownError and logged.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer h.recoverPanic(w, r)
	// ServeMux would redirect an unclean path to its clean form; under a
	// StripPrefix the redirect loses the prefix, and CC answers 404 anyway.
	if !isCleanPath(r.URL.EscapedPath()) {
		h.WriteError(w, r, errUnknownRequest)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	h.logger.ErrorContext(r.Context(), "httpadapter: panic serving request",
		"method", r.Method, "path", r.URL.Path, "panic", v)
	writeErrorBody(w, errUnknown)
}

// isCleanPath reports whether ServeMux would route p as it is, rather than
// redirect it to its cleaned form: p starts with "/" and has no empty, "."
// or ".." segment, except one trailing slash. It scans instead of calling
// path.Clean because it runs on every request.
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for start := 1; start <= len(p); {
		end := strings.IndexByte(p[start:], '/')
		if end < 0 {
			end = len(p)
		} else {
			end += start
		}
		switch seg := p[start:end]; {
		case seg == "." || seg == "..":
			return false
		case seg == "" && end < len(p): // "//"
			return false
		}
		start = end + 1
	}
	return true
}

// unrouted answers a path no pattern matches for r's method: 405 with Allow
// if another method matches it, 404 CF-NotFound otherwise.
func (h *Handler) unrouted(w http.ResponseWriter, r *http.Request) {
	if allow := h.allowedMethods(r); len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.WriteError(w, r, errMethodNotAllowed)
		return
	}
	h.WriteError(w, r, errUnknownRequest)
}

// allowedMethods asks the mux which registered methods would route r's path
// somewhere other than the catch-all.
func (h *Handler) allowedMethods(r *http.Request) []string {
	h.mu.Lock()
	methods := slices.Clone(h.methods)
	h.mu.Unlock()
	var allow []string
	probe := *r
	for _, m := range methods {
		probe.Method = m
		if _, pattern := h.mux.Handler(&probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if slices.Contains(allow, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
		allow = append(allow, http.MethodHead) // ServeMux routes HEAD to GET patterns
	}
	slices.Sort(allow)
	return allow
}
