package httpadapter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/storetest"
)

// t0 is the fixed creation time of every test task, so bodies are exact.
var t0 = time.Date(2016, 5, 4, 17, 0, 41, 123456000, time.UTC)

// spec is openapi.yaml, loaded and checked once for all tests.
var spec = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpadapter.OpenAPIDocument())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, err
	}
	return doc, nil
})

var specRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := spec()
	if err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

// validating wraps h so that every response it gives is checked against
// openapi.yaml before the client sees it. Every test request goes through
// it: a response the document does not describe fails the test.
func validating(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		res := rec.Result()
		body := rec.Body.Bytes()
		if err := validateResponse(r, res.StatusCode, res.Header, body); err != nil {
			t.Errorf("%s %s: response %d does not match openapi.yaml: %v\n%s", r.Method, r.URL, res.StatusCode, err, body)
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
	})
}

func validateResponse(r *http.Request, status int, header http.Header, body []byte) error {
	if got := header.Get("Content-Type"); got != "application/json" {
		return errors.New("Content-Type is " + got)
	}
	if r.Method == http.MethodHead {
		return nil
	}
	router, err := specRouter()
	if err != nil {
		return err
	}
	route, params, err := router.FindRoute(r)
	if err != nil {
		// Unrouted paths, wrong methods and host routes have no operation:
		// all they may answer is an error, in the envelope.
		if status < 400 {
			return errors.New("no route in the document, yet status is not an error")
		}
		doc, _ := spec()
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		return doc.Components.Schemas["Error"].Value.VisitJSON(v)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// bundle is what a test works with.
type bundle struct {
	store    *memstore.Store
	svc      *tasklife.Service
	changes  *atomic.Int64 // observer calls
	handler  *httpadapter.Handler
	validate http.Handler // handler behind the validator
}

// setup builds a service on a memstore with a fixed clock and a Handler with
// auth and opts.
func setup(t testing.TB, auth httpadapter.Authorizer, opts ...httpadapter.Option) *bundle {
	store := memstore.New(memstore.WithClock(func() time.Time { return t0 }))
	return setupStore(t, store, auth, opts...)
}

func setupStore(t testing.TB, store *memstore.Store, auth httpadapter.Authorizer, opts ...httpadapter.Option) *bundle {
	b := &bundle{store: store, changes: new(atomic.Int64)}
	b.svc = tasklife.New(store, tasklife.WithObserver(func(context.Context, tasklife.Change) { b.changes.Add(1) }))
	b.handler = httpadapter.New(b.svc, auth, opts...)
	b.validate = validating(t, b.handler)
	return b
}

// create stores a task and moves it to state.
func (b *bundle) create(t testing.TB, app string, state tasklife.State) *tasklife.Task {
	t.Helper()
	task := storetest.CreateIn(t, b.svc, tasklife.NewTask{AppGUID: app, Name: "migrate", Command: "rake db:migrate", DropletGUID: "droplet-1", MemoryInMB: 256}, state)
	b.changes.Store(0)
	return task
}

// snapshot is every stored task, to compare before and after a refusal.
func (b *bundle) snapshot(t testing.TB) []*tasklife.Task {
	t.Helper()
	page, err := b.store.List(context.Background(), tasklife.ListQuery{Page: 1, PerPage: tasklife.MaxPerPage})
	require.NoError(t, err)
	return page.Tasks
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request through the validating handler. token "" sends no
// Authorization header.
func (b *bundle) do(t testing.TB, method, target, token string) response {
	t.Helper()
	return serve(b.validate, method, target, token)
}

func serve(h http.Handler, method, target, token string) response {
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return response{status: w.Code, header: w.Header(), body: w.Body.String()}
}

// envelope is the CF error body with one error, encoded by encoding/json
// as an independent check of the adapter's hand-written encoder.
func envelope(detail, title string, code int) string {
	type cfError struct {
		Detail string `json:"detail"`
		Title  string `json:"title"`
		Code   int    `json:"code"`
	}
	return marshal(struct {
		Errors []cfError `json:"errors"`
	}{[]cfError{{detail, title, code}}})
}

func marshal(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// wireTask is Cloud Controller's task JSON as an ordered struct: the
// oracle the adapter's output is compared with.
type wireTask struct {
	GUID         string  `json:"guid"`
	CreatedAt    string  `json:"created_at"`
	UpdatedAt    string  `json:"updated_at"`
	SequenceID   int64   `json:"sequence_id"`
	Name         string  `json:"name"`
	Command      *string `json:"command,omitempty"`
	User         *string `json:"user"`
	State        string  `json:"state"`
	MemoryInMB   int64   `json:"memory_in_mb"`
	DiskInMB     *int64  `json:"disk_in_mb"`
	LogRateLimit int64   `json:"log_rate_limit_in_bytes_per_second"`
	Result       struct {
		FailureReason *string `json:"failure_reason"`
	} `json:"result"`
	DropletGUID   string            `json:"droplet_guid"`
	Relationships wireRelationships `json:"relationships"`
	Metadata      struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Links wireLinks `json:"links"`
}

// wireRelationships is {"app": {"data": {"guid": ...}}}.
type wireRelationships struct {
	App struct {
		Data struct {
			GUID string `json:"guid"`
		} `json:"data"`
	} `json:"app"`
}

type wireLinks struct {
	Self    wireLink  `json:"self"`
	App     wireLink  `json:"app"`
	Cancel  wireLink  `json:"cancel"`
	Droplet *wireLink `json:"droplet,omitempty"`
}

type wireLink struct {
	Href   string `json:"href"`
	Method string `json:"method,omitempty"`
}

// wire is t as the adapter must render it, for encoding/json to encode in
// Cloud Controller's key order.
func wire(t *tasklife.Task, base string, showCommand bool) wireTask {
	w := wireTask{
		GUID: t.GUID, CreatedAt: t.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"),
		UpdatedAt: t.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z"), SequenceID: t.SequenceID,
		Name: t.Name, State: string(t.State), MemoryInMB: t.MemoryInMB, DiskInMB: t.DiskInMB,
		LogRateLimit: t.LogRateLimitInBytesPerSecond, DropletGUID: t.DropletGUID,
	}
	if showCommand {
		w.Command = &t.Command
	}
	if t.User != "" {
		w.User = &t.User
	}
	if t.State == tasklife.StateFailed {
		w.Result.FailureReason = &t.FailureReason
	}
	w.Relationships.App.Data.GUID = t.AppGUID
	w.Metadata.Labels, w.Metadata.Annotations = map[string]string{}, map[string]string{}
	for k, v := range t.Labels {
		w.Metadata.Labels[k] = v
	}
	for k, v := range t.Annotations {
		w.Metadata.Annotations[k] = v
	}
	w.Links = wireLinks{
		Self:   wireLink{Href: base + "/v3/tasks/" + url.PathEscape(t.GUID)},
		App:    wireLink{Href: base + "/v3/apps/" + url.PathEscape(t.AppGUID)},
		Cancel: wireLink{Href: base + "/v3/tasks/" + url.PathEscape(t.GUID) + "/actions/cancel", Method: "POST"},
	}
	if t.DropletGUID != "" {
		w.Links.Droplet = &wireLink{Href: base + "/v3/droplets/" + url.PathEscape(t.DropletGUID)}
	}
	return w
}

// requireTask checks that body is exactly t's JSON, byte for byte as
// encoding/json writes it from wire.
func requireTask(t testing.TB, body string, task *tasklife.Task, base string, showCommand bool) {
	t.Helper()
	require.Equal(t, marshal(wire(task, base, showCommand)), body)
}

func taskKeys(showCommand bool) []string {
	keys := []string{"guid", "created_at", "updated_at", "sequence_id", "name"}
	if showCommand {
		keys = append(keys, "command")
	}
	return append(keys, "user", "state", "memory_in_mb", "disk_in_mb",
		"log_rate_limit_in_bytes_per_second", "result", "droplet_guid",
		"relationships", "metadata", "links")
}

// topLevelKeys lists the keys of a JSON object in the order they appear.
func topLevelKeys(t testing.TB, body string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

// The CF errors of the contract's table, as exact bodies.
var (
	bodyNotAuthenticated = envelope("Authentication error", "CF-NotAuthenticated", 10002)
	bodyInvalidToken     = envelope("Invalid Auth Token", "CF-InvalidAuthToken", 1000)
	bodyNotAuthorized    = envelope("You are not authorized to perform the requested action", "CF-NotAuthorized", 10003)
	bodyTaskNotFound     = envelope("Task not found", "CF-ResourceNotFound", 10010)
	bodyAppNotFound      = envelope("App not found", "CF-ResourceNotFound", 10010)
	bodyUnknownRequest   = envelope("Unknown request", "CF-NotFound", 10000)
	bodyUnknownError     = envelope("An unknown error occurred.", "UnknownError", 10001)
	bodyUnavailable      = envelope("The task store is unavailable: the request may or may not have taken effect, and repeating it is safe", "CF-ServiceUnavailable", 10015)
	bodyMethodNotAllowed = envelope("Method not allowed", "CF-MethodNotAllowed", 10000)
)

func bodyBadQuery(what string) string {
	return envelope("The query parameter is invalid: "+what, "CF-BadQueryParameter", 10005)
}

func bodyUnprocessable(detail string) string {
	return envelope(detail, "CF-UnprocessableEntity", 10008)
}

// drain reads and closes a body, for tests that talk to a real server.
func drain(t testing.TB, r io.ReadCloser) []byte {
	t.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}
