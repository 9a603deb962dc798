package httpadapter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

var testSpace = httpadapter.Space{OrgGUID: "org-guid", OrgName: "taskd", GUID: "space-guid", Name: "default", CreatedAt: t0}

// appsBundle serves apps from a memstore, which keeps tasks too.
func appsBundle(t *testing.T, auth httpadapter.Authorizer, opts ...httpadapter.Option) (*memstore.Store, http.Handler) {
	store := memstore.New()
	svc := tasklife.New(store)
	create := func(ctx context.Context, _ httpadapter.Principal, nt tasklife.NewTask) (*tasklife.Task, error) {
		return svc.Create(ctx, nt)
	}
	opts = append(opts, httpadapter.WithApps(store, testSpace), httpadapter.WithCreate(create))
	// Every answer is checked against openapi.yaml too.
	return store, validating(t, httpadapter.New(svc, auth, opts...))
}

func send(h http.Handler, method, target, body string) response {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Authorization", "bearer good")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return response{status: w.Code, header: w.Header(), body: w.Body.String()}
}

const demoApp = `{"name":"demo","relationships":{"space":{"data":{"guid":"space-guid"}}},"metadata":{"labels":{"team":"a"}}}`

func TestCreateAndGetApp(t *testing.T) {
	t.Parallel()
	_, h := appsBundle(t, all)
	got := send(h, "POST", "/v3/apps", demoApp)
	require.Equal(t, 201, got.status, got.body)
	require.Equal(t, "application/json", got.header.Get("Content-Type"))
	var app map[string]any
	require.NoError(t, json.Unmarshal([]byte(got.body), &app))
	guid := app["guid"].(string)
	created := app["created_at"].(string)
	_, err := time.Parse("2006-01-02T15:04:05Z", created)
	require.NoError(t, err, "CC's timestamps")
	require.JSONEq(t, `{"guid":"`+guid+`","name":"demo","state":"STOPPED","created_at":"`+created+`","updated_at":"`+created+`",
		"lifecycle":{"type":"buildpack","data":{"buildpacks":[],"stack":null}},
		"relationships":{"space":{"data":{"guid":"space-guid"}}},
		"metadata":{"labels":{"team":"a"},"annotations":{}},
		"links":{"self":{"href":"http://example.com/v3/apps/`+guid+`"},"space":{"href":"http://example.com/v3/spaces/space-guid"},
			"tasks":{"href":"http://example.com/v3/apps/`+guid+`/tasks"}}}`, got.body)

	again := send(h, "GET", "/v3/apps/"+guid, "")
	require.Equal(t, 200, again.status)
	require.JSONEq(t, got.body, again.body)
	require.Equal(t, bodyAppNotFound, send(h, "GET", "/v3/apps/nope", "").body)
}

func TestCreateAppErrors(t *testing.T) {
	t.Parallel()
	store, h := appsBundle(t, all)
	require.Equal(t, 201, send(h, "POST", "/v3/apps", demoApp).status)
	for _, tc := range []struct{ body, want string }{
		{`{"name":"DEMO","relationships":{"space":{"data":{"guid":"space-guid"}}}}`, bodyUnprocessable("App with the name 'DEMO' already exists.")},
		{`{"name":"x","relationships":{"space":{"data":{"guid":"other-space"}}}}`, bodyUnprocessable("Invalid space. Ensure that the space exists and you have access to it.")},
		{`{"relationships":{"space":{"data":{"guid":"space-guid"}}}}`, bodyUnprocessable("Name can't be blank")},
		{`{"name":"x"}`, bodyUnprocessable("Relationships 'relationships' is not an object")},
		{`{"name":"x","relationships":{"space":"space-guid"}}`, bodyUnprocessable(`Relationships Space must be structured like this: "space: {"data": {"guid": "valid-guid"}}"`)},
		{`{"name":"x","relationships":{"space":{"data":{"guid":"space-guid"}}},"environment_variables":{"A":"1"}}`, bodyUnprocessable("Unknown field(s): 'environment_variables'")},
		{`{"name":7,"relationships":{"space":{"data":{"guid":"space-guid"}}}}`, bodyUnprocessable("Name must be a string")},
	} {
		got := send(h, "POST", "/v3/apps", tc.body)
		require.Equal(t, 422, got.status, tc.body)
		require.Equal(t, tc.want, got.body, tc.body)
	}
	page, err := store.ListApps(t.Context(), tasklife.AppQuery{Page: 1, PerPage: 50})
	require.NoError(t, err)
	require.Equal(t, 1, page.TotalResults, "a refused create stores nothing")
}

type resourceList struct {
	Pagination struct {
		TotalResults int `json:"total_results"`
		TotalPages   int `json:"total_pages"`
		Next         *struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"pagination"`
	Resources []struct {
		GUID string `json:"guid"`
		Name string `json:"name"`
	} `json:"resources"`
}

func listOf(t *testing.T, h http.Handler, target string) resourceList {
	t.Helper()
	got := send(h, "GET", target, "")
	require.Equal(t, 200, got.status, got.body)
	var l resourceList
	require.NoError(t, json.Unmarshal([]byte(got.body), &l))
	return l
}

func names(l resourceList) []string {
	out := []string{}
	for _, r := range l.Resources {
		out = append(out, r.Name)
	}
	return out
}

func TestListApps(t *testing.T) {
	t.Parallel()
	_, h := appsBundle(t, all)
	for _, n := range []string{"b", "a", "c"} {
		require.Equal(t, 201, send(h, "POST", "/v3/apps", `{"name":"`+n+`","relationships":{"space":{"data":{"guid":"space-guid"}}}}`).status)
	}
	require.Equal(t, []string{"b", "a", "c"}, names(listOf(t, h, "/v3/apps")))
	require.Equal(t, []string{"a"}, names(listOf(t, h, "/v3/apps?names=a&space_guids=space-guid")))
	require.Equal(t, []string{}, names(listOf(t, h, "/v3/apps?names=a&space_guids=other")))
	require.Equal(t, []string{}, names(listOf(t, h, "/v3/apps?organization_guids=other-org")))
	require.Equal(t, []string{"c", "b", "a"}, names(listOf(t, h, "/v3/apps?order_by=-name")))
	l := listOf(t, h, "/v3/apps?order_by=name&per_page=2&names=a,b,c")
	require.Equal(t, []string{"a", "b"}, names(l))
	require.Equal(t, 3, l.Pagination.TotalResults)
	require.Equal(t, "http://example.com/v3/apps?names=a%2Cb%2Cc&order_by=name&page=2&per_page=2", l.Pagination.Next.Href)

	got := send(h, "GET", "/v3/apps?stacks=x&per_page=0", "")
	require.Equal(t, 400, got.status)
	require.Equal(t, bodyBadQuery("Unknown query parameter(s): 'stacks'. Valid parameters are: 'names', 'guids', 'space_guids', 'organization_guids', 'page', 'per_page', 'order_by', Per page must be a positive integer"), got.body)
	got = send(h, "GET", "/v3/apps?order_by=state", "")
	require.Equal(t, bodyBadQuery("Order by can only be: 'created_at', 'updated_at', 'name'"), got.body)
}

func TestOrgsAndSpaces(t *testing.T) {
	t.Parallel()
	_, h := appsBundle(t, all)
	l := listOf(t, h, "/v3/organizations?names=taskd&page=1&per_page=1")
	require.Equal(t, 1, l.Pagination.TotalResults)
	require.Equal(t, "org-guid", l.Resources[0].GUID)
	require.Empty(t, listOf(t, h, "/v3/organizations?names=other").Resources)
	require.Empty(t, listOf(t, h, "/v3/organizations?page=2").Resources)
	require.Equal(t, 1, listOf(t, h, "/v3/organizations?page=2").Pagination.TotalResults)

	l = listOf(t, h, "/v3/spaces?names=default&organization_guids=org-guid&page=1&per_page=1")
	require.Equal(t, "space-guid", l.Resources[0].GUID)
	require.Empty(t, listOf(t, h, "/v3/spaces?names=default&organization_guids=other").Resources)

	got := send(h, "GET", "/v3/spaces/space-guid", "")
	require.JSONEq(t, `{"guid":"space-guid","created_at":"2016-05-04T17:00:41Z","updated_at":"2016-05-04T17:00:41Z","name":"default",
		"relationships":{"organization":{"data":{"guid":"org-guid"}},"quota":{"data":null}},
		"metadata":{"labels":{},"annotations":{}},
		"links":{"self":{"href":"http://example.com/v3/spaces/space-guid"},"organization":{"href":"http://example.com/v3/organizations/org-guid"}}}`, got.body)
	got = send(h, "GET", "/v3/organizations/org-guid", "")
	require.JSONEq(t, `{"guid":"org-guid","created_at":"2016-05-04T17:00:41Z","updated_at":"2016-05-04T17:00:41Z","name":"taskd","suspended":false,
		"relationships":{"quota":{"data":null}},"metadata":{"labels":{},"annotations":{}},
		"links":{"self":{"href":"http://example.com/v3/organizations/org-guid"}}}`, got.body)
	require.Equal(t, envelope("Space not found", "CF-ResourceNotFound", 10010), send(h, "GET", "/v3/spaces/x", "").body)
	require.Equal(t, envelope("Organization not found", "CF-ResourceNotFound", 10010), send(h, "GET", "/v3/organizations/x", "").body)
	got = send(h, "GET", "/v3/spaces?space_guids=x", "")
	require.Equal(t, 400, got.status)
}

func TestAppRoutesAuth(t *testing.T) {
	t.Parallel()
	_, h := appsBundle(t, grants{read: true})
	require.Equal(t, bodyNotAuthorized, send(h, "POST", "/v3/apps", demoApp).body)
	require.Equal(t, 200, send(h, "GET", "/v3/apps", "").status)
	_, h = appsBundle(t, grants{write: true})
	for _, target := range []string{"/v3/apps", "/v3/apps/x", "/v3/organizations", "/v3/spaces/space-guid"} {
		require.Equal(t, bodyNotAuthorized, send(h, "GET", target, "").body, target)
	}
	got := serve(h, "GET", "/v3/spaces", "")
	require.Equal(t, bodyNotAuthenticated, got.body)
}

// TestCreateTaskForUnknownApp: with WithAppExists, a create for an app
// that does not exist is 404 "App not found", after the body's 422, as in
// Cloud Controller.
func TestCreateTaskForUnknownApp(t *testing.T) {
	t.Parallel()
	var store *memstore.Store
	exists := func(ctx context.Context, _ httpadapter.Principal, guid string) (bool, error) {
		_, err := store.GetApp(ctx, guid)
		return err == nil, nil
	}
	store, h := appsBundle(t, all, httpadapter.WithAppExists(exists))
	require.Equal(t, bodyUnprocessable("No command or template provided"), send(h, "POST", "/v3/apps/nope/tasks", `{}`).body)
	require.Equal(t, bodyAppNotFound, send(h, "POST", "/v3/apps/nope/tasks", `{"command":"true"}`).body)
	var app struct {
		GUID string `json:"guid"`
	}
	require.NoError(t, json.Unmarshal([]byte(send(h, "POST", "/v3/apps", demoApp).body), &app))
	require.Equal(t, 202, send(h, "POST", "/v3/apps/"+app.GUID+"/tasks", `{"command":"true"}`).status)
}
