package httpadapter_test

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

func TestMountedUnderPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  []httpadapter.Option
		links string
	}{
		{name: "base URL", opts: []httpadapter.Option{httpadapter.WithBaseURL("https://cf.example.org/cf")}, links: "https://cf.example.org/cf"},
		{name: "development: from the request", links: "http://example.com/cf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, all, tt.opts...)
			task := b.create(t, "app", tasklife.StateRunning)
			outer := http.NewServeMux()
			outer.Handle("/cf/", http.StripPrefix("/cf", b.validate))
			outer.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})

			res := serve(outer, http.MethodPut, "/cf/v3/tasks/"+task.GUID+"/cancel", "good")
			require.Equal(t, http.StatusAccepted, res.status)
			requireTask(t, res.body, b.snapshot(t)[0], tt.links, true)

			res = serve(outer, http.MethodGet, "/cf/v3/tasks?per_page=1", "good")
			require.Contains(t, res.body, `"first":{"href":"`+tt.links+`/v3/tasks?page=1&per_page=1"}`)

			// (An unclean path never reaches the adapter: the outer mux redirects it.)
			for _, path := range []string{"/cf/", "/cf/v2/info", "/cf/v3/tasks/x/y"} {
				res := serve(outer, http.MethodGet, path, "good")
				require.Equal(t, response{404, nil, bodyUnknownRequest}, strip(res), path)
			}
			bare := http.StripPrefix("/cf", b.validate) // "/cf" strips to an empty path
			require.Equal(t, response{404, nil, bodyUnknownRequest}, strip(serve(bare, http.MethodGet, "/cf", "good")))
			res = serve(outer, http.MethodDelete, "/cf/v3/tasks/x", "good")
			require.Equal(t, "GET, HEAD, PATCH", res.header.Get("Allow"))
			require.Equal(t, http.StatusOK, serve(outer, http.MethodGet, "/healthz", "").status)
		})
	}
}

func TestLinkBase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   []httpadapter.Option
		tls    bool
		header map[string]string
		want   string
	}{
		{name: "request host", want: "http://example.com"},
		{name: "TLS", tls: true, want: "https://example.com"},
		{name: "forwarded headers ignored by default",
			header: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}, want: "http://example.com"},
		{name: "forwarded headers trusted on request", opts: []httpadapter.Option{httpadapter.WithTrustForwardedHeaders()},
			header: map[string]string{"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "api.example.org, proxy"}, want: "https://api.example.org"},
		{name: "a forwarded proto that is no scheme is ignored", opts: []httpadapter.Option{httpadapter.WithTrustForwardedHeaders()},
			header: map[string]string{"X-Forwarded-Proto": "javascript"}, want: "http://example.com"},
		{name: "base URL wins over everything", opts: []httpadapter.Option{httpadapter.WithBaseURL("https://api.example.org"), httpadapter.WithTrustForwardedHeaders()},
			header: map[string]string{"X-Forwarded-Host": "evil.example"}, want: "https://api.example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, all, tt.opts...)
			task := b.create(t, "app", tasklife.StateRunning)
			r := httptest.NewRequest(http.MethodGet, "/v3/tasks/"+task.GUID, nil)
			r.Header.Set("Authorization", "bearer good")
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			b.validate.ServeHTTP(w, r)
			require.Equal(t, http.StatusOK, w.Code)
			requireTask(t, w.Body.String(), task, tt.want, true)
			require.Equal(t, tt.want, b.handler.BaseURL(r))
		})
	}
}

// TestHostRoutes is what cmd/taskd does: its own routes on the adapter's
// mux, rendered and refused exactly like the adapter's.
func TestHostRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, grants{read: true, readTask: true, readSecrets: true}, httpadapter.WithLogger(slog.New(slog.DiscardHandler)))
	h := b.handler
	h.Handle("POST /v3/apps/{guid}/tasks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := h.AuthenticateToWrite(w, r); !ok {
			return
		}
		if r.URL.Query().Get("command") == "" {
			h.WriteError(w, r, httpadapter.UnprocessableEntity("No command or template provided"))
			return
		}
		task, err := b.svc.Create(r.Context(), tasklife.NewTask{AppGUID: r.PathValue("guid"), Command: r.URL.Query().Get("command")})
		if err != nil {
			h.WriteError(w, r, err)
			return
		}
		h.WriteTask(w, r, http.StatusAccepted, task, true)
	}))
	h.Handle("GET /{$}", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"links":{}}`))
	}))
	h.Handle("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("host route exploded") }))
	require.Equal(t, `{"links":{}}`, serve(h, http.MethodGet, "/", "").body)
	v := validating(t, h) // host routes are not in openapi.yaml, but their errors must fit it

	// The grants lack the write scope: the host route refuses like cancel.
	res := serve(v, http.MethodPost, "/v3/apps/a/tasks?command=x", "good")
	require.Equal(t, response{403, nil, bodyNotAuthorized}, strip(res))
	res = serve(v, http.MethodPost, "/v3/apps/a/tasks", "")
	require.Equal(t, response{401, nil, bodyNotAuthenticated}, strip(res))
	require.Empty(t, b.snapshot(t))

	require.Equal(t, response{404, nil, bodyUnknownRequest}, strip(serve(v, http.MethodGet, "/v3/nope", "good")))
	require.Equal(t, response{500, nil, bodyUnknownError}, strip(serve(v, http.MethodGet, "/boom", "good")))
	res = serve(v, http.MethodDelete, "/v3/apps/a/tasks", "good")
	require.Equal(t, http.StatusMethodNotAllowed, res.status)
	require.Equal(t, "GET, HEAD, POST", res.header.Get("Allow"))
	require.Equal(t, bodyMethodNotAllowed, res.body)
	res = serve(v, http.MethodPost, "/", "good")
	require.Equal(t, "GET, HEAD", res.header.Get("Allow"))

	writer := setup(t, all)
	writer.handler.Handle("POST /v3/apps/{guid}/tasks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := writer.handler.AuthenticateToWrite(w, r); !ok {
			return
		}
		writer.handler.WriteError(w, r, httpadapter.UnprocessableEntity("No command or template provided"))
	}))
	res = serve(writer.validate, http.MethodPost, "/v3/apps/a/tasks", "good")
	require.Equal(t, response{422, nil, bodyUnprocessable("No command or template provided")}, strip(res))
}

func TestHandleRejectsConflicts(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	require.Panics(t, func() { b.handler.Handle("GET /v3/tasks/{id}", http.NotFoundHandler()) })
	require.Panics(t, func() { b.handler.Handle("/", http.NotFoundHandler()) })
}
