package httpadapter_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// checkResponse holds for every answer the adapter gives with a healthy
// store: no 5xx (a recovered panic would be a 500), JSON, the document's
// shape, and the CF envelope on every error.
func checkResponse(t *testing.T, r *http.Request, w *httptest.ResponseRecorder) {
	t.Helper()
	body := w.Body.Bytes()
	require.Less(t, w.Code, 500, "%s %q: %s", r.Method, r.URL.String(), body)
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	require.NoError(t, validateResponse(r, w.Code, w.Header(), body), "%s %q: %s", r.Method, r.URL.String(), body)
	if w.Code < 400 {
		return
	}
	var env struct {
		Errors []struct {
			Detail string `json:"detail"`
			Title  string `json:"title"`
			Code   int    `json:"code"`
		} `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(body, &env), "%s", body)
	require.Len(t, env.Errors, 1)
	require.NotEmpty(t, env.Errors[0].Title)
	require.NotZero(t, env.Errors[0].Code)
	if w.Code == http.StatusMethodNotAllowed {
		require.NotEmpty(t, w.Header().Get("Allow"))
	}
}

// fuzzRequest builds the request a server would hand the adapter, with
// the test token, or nil if net/http would refuse the request line itself.
func fuzzRequest(method, target string) *http.Request {
	if method == "" || strings.ContainsFunc(method, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
	}) {
		return nil
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || strings.ContainsAny(target, " \r\n") {
		return nil
	}
	return &http.Request{Method: method, URL: u, RequestURI: target, Host: "example.com",
		Header: http.Header{"Authorization": {"bearer good"}}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

// FuzzRouting sends any request line, with any Authorization header, to
// the adapter behind BearerToken.
func FuzzRouting(f *testing.F) {
	for _, seed := range []struct{ method, target string }{
		{"GET", "/v3/tasks"}, {"GET", "/v3/tasks/abc"}, {"POST", "/v3/tasks/abc/actions/cancel"},
		{"PUT", "/v3/tasks/abc/cancel"}, {"GET", "/v3/apps/abc/tasks?per_page=1"}, {"DELETE", "/v3/tasks/x"},
		{"GET", "/v3//tasks"}, {"GET", "/v3/tasks/%2F"}, {"HEAD", "/v3/tasks"}, {"OPTIONS", "*"},
		{"PATCH", "/v3/tasks/abc"}, {"POST", "/v3/apps/abc/tasks"}, {"GET", "/v3/audit_events?types=a&created_ats[lt]=2020-01-01T00:00:00Z"},
		{"GET", "/v3/tasks?label_selector=a%3Db,c+in+(d,e),!f"}, {"GET", "/v3/apps/x/tasks?updated_ats[gte]=2020-01-01T00:00:00Z"},
	} {
		for _, auth := range []string{"bearer good", "", "bearer bad", "Basic Z29vZA=="} {
			f.Add(seed.method, seed.target, auth)
		}
	}
	b := setup(f, httpadapter.BearerToken("good"))
	b.create(f, "app", tasklife.StateRunning)
	before := b.snapshot(f)
	f.Fuzz(func(t *testing.T, method, target, auth string) {
		r := fuzzRequest(method, target)
		if r == nil {
			t.Skip("net/http refuses this request line")
		}
		r.Header.Del("Authorization")
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		b.handler.ServeHTTP(w, r)
		checkResponse(t, r, w)
		if w.Code >= 300 {
			require.Equal(t, before, b.snapshot(t), "a refused request wrote")
		}
	})
}

func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{
		"", "per_page=1&page=2", "states=RUNNING,FAILED", "order_by=-updated_at", "foo=bar",
		"sequence_ids=1,2", "app_guids=app", "page=0", "per_page=5001", "names=a%2Cb&guids=",
		"a=%zz", "page=99999999999999999999", "states=", ";",
		"label_selector=a%3Db", "label_selector=a+in+(b,c),!d", "label_selector=a+notin+(", "label_selector=",
		"created_ats=2020-01-01T00:00:00Z,2021-01-01T00:00:00Z", "created_ats[lte]=2020-01-01T00:00:00Z",
		"updated_ats[xx]=1", "created_ats[gt]=a,b",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	b := setup(f, all)
	for range 3 {
		b.create(f, "app", tasklife.StateRunning)
	}
	f.Fuzz(func(t *testing.T, query string, perApp bool) {
		path := "/v3/tasks"
		if perApp {
			path = "/v3/apps/app/tasks"
		}
		r := fuzzRequest(http.MethodGet, path+"?"+query)
		if r == nil {
			t.Skip("net/http refuses this request line")
		}
		w := httptest.NewRecorder()
		b.handler.ServeHTTP(w, r)
		checkResponse(t, r, w)
		switch w.Code {
		case http.StatusBadRequest:
			require.Contains(t, w.Body.String(), `"detail":"The query parameter is invalid: `)
			require.Contains(t, w.Body.String(), `"title":"CF-BadQueryParameter","code":10005}`)
			return
		case http.StatusOK:
		default:
			t.Fatalf("status %d for %q", w.Code, query)
		}
		// Every page link is itself a valid query that lands on the same
		// total.
		var list wireList
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &list))
		require.GreaterOrEqual(t, list.Pagination.TotalPages, 1)
		for _, link := range []string{list.Pagination.First.Href, list.Pagination.Last.Href} {
			u, err := url.Parse(link)
			require.NoError(t, err)
			r2 := fuzzRequest(http.MethodGet, u.RequestURI())
			require.NotNil(t, r2, link)
			w2 := httptest.NewRecorder()
			b.handler.ServeHTTP(w2, r2)
			require.Equal(t, http.StatusOK, w2.Code, "%s: %s", link, w2.Body)
			var again wireList
			require.NoError(t, json.Unmarshal(w2.Body.Bytes(), &again))
			require.Equal(t, list.Pagination.TotalResults, again.Pagination.TotalResults)
		}
	})
}

// FuzzJSONStrings checks the hand-written JSON string encoder on every
// string field of a task: the output is valid JSON and each value decodes
// to what encoding/json makes of the input (each invalid UTF-8 byte
// becoming U+FFFD).
func FuzzJSONStrings(f *testing.F) {
	for _, seed := range []string{"", "plain", "\x00\x1f\x7f", "\"\\/", "\xff\xfe", "a\xc3", "\u2028\u2029",
		"😀", "\r\n\t\b\f", "\xed\xa0\x80", "<&>"} {
		f.Add(seed)
	}
	h := setup(f, httpadapter.InsecureAllowAll()).handler
	f.Fuzz(func(t *testing.T, s string) {
		task := &tasklife.Task{GUID: s, AppGUID: s, Name: s, Command: s, User: s, State: tasklife.StateFailed,
			FailureReason: s, DropletGUID: s, Labels: map[string]string{s: s}, Annotations: map[string]string{"k": s}}
		out := renderTask(t, h, task, true)
		require.True(t, json.Valid(out), "%q -> %s", s, out)
		var got wireTask
		require.NoError(t, json.Unmarshal(out, &got))
		want := jsonRoundTrip(t, s)
		for _, v := range []string{got.GUID, got.Name, *got.Command, *got.Result.FailureReason, got.DropletGUID,
			got.Relationships.App.Data.GUID, got.Metadata.Labels[want], got.Metadata.Annotations["k"]} {
			require.Equal(t, want, v)
		}
		if s != "" {
			require.Equal(t, want, *got.User)
		}
	})
}

// FuzzBody sends any body to PATCH /v3/tasks/{guid} and to create: never
// a 5xx, always the document's shape, and a refusal changes nothing.
func FuzzBody(f *testing.F) {
	for _, seed := range []string{
		`{"metadata":{"labels":{"a":"b","c":null},"annotations":{"x":"y"}}}`, `{}`, ``, `null`, `[]`,
		`{"metadata":{"labels":{"a b":"c"}}}`, `{"metadata":{"labels":{"a":1}}}`, `{"metadata":1}`,
		`{"command":"x","name":"n","memory_in_mb":1,"disk_in_mb":null}`, `{"command":"x","x":1}`,
		`{"metadata":{},"metadata":{}}`, "{\"command\":\"\xff\"}", `{"command":"\ud800"}`,
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, body string, create bool) {
		b := setup(t, all)
		b.handler = httpadapter.New(b.svc, all, httpadapter.WithCreate(createHook(b.svc)))
		task := b.create(t, "app", tasklife.StateRunning)
		before := b.snapshot(t)
		method, target := http.MethodPatch, "/v3/tasks/"+task.GUID
		if create {
			method, target = http.MethodPost, "/v3/apps/app/tasks"
		}
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Authorization", "bearer good")
		w := httptest.NewRecorder()
		b.handler.ServeHTTP(w, r)
		checkResponse(t, r, w)
		if w.Code >= 300 {
			require.Equal(t, before, b.snapshot(t), "a refused request wrote")
		}
	})
}
