package httpadapter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// send is do with a request body.
func (b *bundle) send(t testing.TB, method, target, token, body string) response {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "bearer "+token)
	}
	w := httptest.NewRecorder()
	b.validate.ServeHTTP(w, r)
	return response{status: w.Code, header: w.Header(), body: w.Body.String()}
}

// createHook is a host's create: app "ghost" does not exist, app
// "locked" may not be written, other apps get 512 MB unless the body says.
func createHook(svc *tasklife.Service) httpadapter.CreateFunc {
	return func(ctx context.Context, _ httpadapter.Principal, nt tasklife.NewTask) (*tasklife.Task, error) {
		switch nt.AppGUID {
		case "ghost":
			return nil, httpadapter.ResourceNotFound("App")
		case "locked":
			return nil, httpadapter.NotAuthorized()
		}
		if nt.MemoryInMB == 0 {
			nt.MemoryInMB = 512
		}
		return svc.Create(ctx, nt)
	}
}

// Cloud Controller's request specs for PATCH /v3/tasks/:guid, in our words.
func TestUpdateMetadata(t *testing.T) {
	t.Parallel()
	b := setup(t, httpadapter.InsecureAllowAll())
	task, err := b.svc.Create(t.Context(), tasklife.NewTask{AppGUID: "app", Command: "x",
		Labels: map[string]string{"fruit": "pears", "gone": "soon"}, Annotations: map[string]string{"potato": "russet"}})
	require.NoError(t, err)
	b.changes.Store(0)

	res := b.send(t, http.MethodPatch, "/v3/tasks/"+task.GUID, "",
		`{"metadata":{"labels":{"fruit":"strawberries","gone":null,"example.com/release":"stable"},"annotations":{"potato":"yukon gold"}}}`)
	require.Equal(t, http.StatusOK, res.status, res.body)
	after, err := b.svc.Get(t.Context(), task.GUID)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"fruit": "strawberries", "example.com/release": "stable"}, after.Labels)
	require.Equal(t, map[string]string{"potato": "yukon gold"}, after.Annotations)
	require.Equal(t, task.Version+1, after.Version)
	requireTask(t, res.body, after, "http://example.com", true)
	require.Zero(t, b.changes.Load(), "observers do not hear of metadata")

	for _, tc := range []struct{ name, body, detail string }{
		{"unknown field", `{"metadata":{},"command":"rm"}`, "Unknown field(s): 'command'"},
		{"unexpected metadata key", `{"metadata":{"stuff":{}}}`, "Metadata has unexpected field(s): 'stuff'"},
		{"labels not an object", `{"metadata":{"labels":"x"}}`, "Metadata 'labels' is not an object"},
		{"bad label key", `{"metadata":{"labels":{"-x":"y"}}}`, "Metadata label key error: '-x' starts or ends with invalid characters"},
		{"two slashes", `{"metadata":{"labels":{"a/b/c":"y"}}}`, "Metadata label key error: key has more than one '/'"},
		{"reserved prefix", `{"metadata":{"labels":{"cloudfoundry.org/x":"y"}}}`, "Metadata label key error: prefix 'cloudfoundry.org' is reserved"},
		{"long label value", `{"metadata":{"labels":{"k":"` + strings.Repeat("v", 64) + `"}}}`, "Metadata label value error: 'vvvvvvvv...' is greater than 63 characters"},
		{"long annotation", `{"metadata":{"annotations":{"k":"` + strings.Repeat("a", 5001) + `"}}}`, "Metadata annotation value error: 'aaaaaaaa...' is greater than 5000 characters"},
		{"every problem", `{"metadata":{"labels":{"a b":"c d"}}}`, "Metadata label key error: 'a b' contains invalid characters, Metadata label value error: 'c d' contains invalid characters"},
	} {
		res := b.send(t, http.MethodPatch, "/v3/tasks/"+task.GUID, "", tc.body)
		require.Equal(t, bodyUnprocessable(tc.detail), res.body, tc.name)
	}
	// The body is judged before the task is looked up.
	res = b.send(t, http.MethodPatch, "/v3/tasks/nope", "", `{"bogus":1}`)
	require.Equal(t, bodyUnprocessable("Unknown field(s): 'bogus'"), res.body)
	res = b.send(t, http.MethodPatch, "/v3/tasks/nope", "", `{"metadata":{}}`)
	require.Equal(t, bodyTaskNotFound, res.body)
	res = b.send(t, http.MethodPatch, "/v3/tasks/"+task.GUID, "", `{"metadata":{},"metadata":{}}`)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "duplicate keys")
	unchanged, err := b.svc.Get(t.Context(), task.GUID)
	require.NoError(t, err)
	require.Equal(t, after, unchanged, "refused patches changed nothing")
}

func TestUpdateAuthMatrix(t *testing.T) {
	t.Parallel()
	for _, tt := range []authCase{
		{name: "unauthenticated", auth: all, status: 401, body: bodyNotAuthenticated},
		{name: "no global write scope", token: "good", auth: grants{read: true, readTask: true, updateTask: true}, status: 403, body: bodyNotAuthorized},
		{name: "cannot read the task", token: "good", auth: grants{read: true, write: true, updateTask: true}, status: 404, body: bodyTaskNotFound},
		{name: "can read, not update", token: "good", auth: grants{read: true, write: true, readTask: true}, status: 403, body: bodyNotAuthorized},
		{name: "can update", token: "good", auth: all, status: 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.auth)
			task := b.create(t, "app", tasklife.StateRunning)
			before := b.snapshot(t)
			res := b.send(t, http.MethodPatch, "/v3/tasks/"+task.GUID, tt.token, `{"metadata":{"labels":{"a":"b"}}}`)
			require.Equal(t, tt.status, res.status, res.body)
			if tt.body != "" {
				require.Equal(t, tt.body, res.body)
				require.Equal(t, before, b.snapshot(t), "a refused request changed the store")
			}
		})
	}
}

func TestListLabelSelectorAndTimes(t *testing.T) {
	t.Parallel()
	b := setup(t, httpadapter.InsecureAllowAll())
	prod, err := b.svc.Create(t.Context(), tasklife.NewTask{AppGUID: "app", Command: "x", Labels: map[string]string{"env": "prod"}})
	require.NoError(t, err)
	_, err = b.svc.Create(t.Context(), tasklife.NewTask{AppGUID: "app", Command: "x", Labels: map[string]string{"env": "dev"}})
	require.NoError(t, err)
	stamp := t0.UTC().Format(time.RFC3339)
	for _, path := range []string{"/v3/tasks", "/v3/apps/app/tasks"} {
		for q, want := range map[string]int{
			"label_selector=env%3Dprod":                   1,
			"label_selector=env+in+(prod,dev)":            2,
			"label_selector=!env":                         0,
			"label_selector=env%21%3Dprod,env":            1,
			"created_ats=" + stamp:                        2,
			"created_ats%5Blt%5D=" + stamp:                0,
			"updated_ats%5Bgte%5D=" + stamp:               2,
			"created_ats%5Bgt%5D=2000-01-01T00:00:00Z":    2,
			"label_selector=env%3Dprod&per_page=1&page=1": 1,
		} {
			res := b.do(t, http.MethodGet, path+"?"+q, "")
			require.Equal(t, http.StatusOK, res.status, "%s?%s: %s", path, q, res.body)
			var list cfTaskList
			require.NoError(t, json.Unmarshal([]byte(res.body), &list))
			require.Equal(t, want, list.Pagination.TotalResults, "%s?%s", path, q)
			if strings.HasPrefix(q, "label_selector=env%3Dprod") {
				require.Equal(t, prod.GUID, list.Resources[0].GUID)
			}
			u, err := url.Parse(list.Pagination.First.Href)
			require.NoError(t, err)
			orig, _ := url.ParseQuery(q)
			for k := range orig {
				require.Equal(t, orig.Get(k), u.Query().Get(k), "page links repeat %s", k)
			}
		}
	}
	const tsMsg = " has an invalid timestamp format. Timestamps should be formatted as 'YYYY-MM-DDThh:mm:ssZ'"
	for q, detail := range map[string]string{
		"label_selector=":                                  "empty label selector not allowed",
		"label_selector=a%3D%3D%3Db":                       `expecting a value, got "a==<<=>>b"`,
		"label_selector=a+in+b":                            `expecting a '(', got "a in <<b>>"`,
		"label_selector=a%24":                              `disallowed character(s), got "a<<$>>"`,
		"label_selector=" + strings.Repeat("a,", 51) + "a": "Too many label_selector requirements (maximum is 50)",
		"label_selector=" + strings.Repeat("a", 5000):      "label_selector is too long (maximum is 4096 characters)",
		"label_selector=-a":                                "'-a' starts or ends with invalid characters",
		"created_ats=yesterday":                            "Created ats" + tsMsg,
		"created_ats=2020-01-01T00:00:00%2B01:00":          "Created ats" + tsMsg,
		"updated_ats%5Bbefore%5D=" + stamp:                 "Updated ats Invalid relational operator: 'before'",
		"created_ats%5Blt%5D=" + stamp + "," + stamp:       "Created ats only accepts one value when using a relational operator",
	} {
		res := b.do(t, http.MethodGet, "/v3/tasks?"+q, "")
		require.Equal(t, bodyBadQuery(detail), res.body, q)
	}
}

func TestCreateInTheAdapter(t *testing.T) {
	t.Parallel()
	b := setup(t, grants{read: true, write: true, readTask: true, readSecrets: true})
	b.handler = httpadapter.New(b.svc, all, httpadapter.WithCreate(createHook(b.svc)))
	b.validate = validating(t, b.handler)

	res := b.send(t, http.MethodPost, "/v3/apps/app/tasks", "good",
		`{"command":"rake db:migrate","name":"migrate","metadata":{"labels":{"team":"a"}}}`)
	require.Equal(t, http.StatusAccepted, res.status, res.body)
	var created cfTask
	require.NoError(t, json.Unmarshal([]byte(res.body), &created))
	require.Equal(t, "rake db:migrate", created.Command)
	require.Equal(t, 512, created.MemoryInMB, "the host's default")
	require.Equal(t, "a", *created.Metadata.Labels["team"])

	before := b.snapshot(t)
	for _, tc := range []struct {
		name, app, token, body string
		status                 int
		detail                 string
	}{
		{"no command", "app", "good", `{"name":"x"}`, 422, "No command or template provided"},
		{"empty body", "app", "good", ``, 422, "No command or template provided"},
		{"unknown field", "app", "good", `{"command":"x","template":{}}`, 422, "Unknown field(s): 'template'"},
		{"bad label", "app", "good", `{"command":"x","metadata":{"labels":{"a b":"c"}}}`, 422, "Metadata label key error: 'a b' contains invalid characters"},
		{"not json", "app", "good", `{"command":`, 400, ""},
		{"body before app", "ghost", "good", `{}`, 422, "No command or template provided"},
		{"no such app", "ghost", "good", `{"command":"x"}`, 404, "App not found"},
		{"may not write here", "locked", "good", `{"command":"x"}`, 403, ""},
		{"unauthenticated", "app", "", `{"command":"x"}`, 401, ""},
	} {
		res := b.send(t, http.MethodPost, "/v3/apps/"+tc.app+"/tasks", tc.token, tc.body)
		require.Equal(t, tc.status, res.status, "%s: %s", tc.name, res.body)
		if tc.detail != "" {
			require.Contains(t, res.body, `"detail":"`+tc.detail+`"`, tc.name)
		}
	}
	require.Equal(t, before, b.snapshot(t), "refused creates stored nothing")
}

func TestAuditEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, httpadapter.BearerToken("good"))
	b.handler = httpadapter.New(b.svc, httpadapter.BearerToken("good"), httpadapter.WithCreate(createHook(b.svc)))
	b.validate = validating(t, b.handler)
	res := b.send(t, http.MethodPost, "/v3/apps/app/tasks", "good", `{"command":"secret","name":"job"}`)
	require.Equal(t, http.StatusAccepted, res.status, res.body)
	var task cfTask
	require.NoError(t, json.Unmarshal([]byte(res.body), &task))
	for range 2 { // the second cancel finds CANCELING: nothing happened, nothing is recorded
		res = b.do(t, http.MethodPost, "/v3/tasks/"+task.GUID+"/actions/cancel", "good")
		require.Equal(t, http.StatusAccepted, res.status, res.body)
	}

	res = b.do(t, http.MethodGet, "/v3/audit_events", "good")
	require.Equal(t, http.StatusOK, res.status, res.body)
	var list struct {
		Pagination struct {
			TotalResults int `json:"total_results"`
		} `json:"pagination"`
		Resources []map[string]any `json:"resources"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.body), &list))
	require.Equal(t, 2, list.Pagination.TotalResults)
	ev := list.Resources[1]
	require.Equal(t, "audit.app.task.cancel", ev["type"])
	require.Equal(t, map[string]any{"guid": "bearer-token", "type": "client", "name": "bearer token holder"}, ev["actor"])
	require.Equal(t, map[string]any{"guid": "app", "type": "app", "name": ""}, ev["target"])
	require.Equal(t, map[string]any{"task_guid": task.GUID, "request": map[string]any{"name": "job", "memory_in_mb": float64(512),
		"environment_variables": "PRIVATE DATA HIDDEN", "command": "PRIVATE DATA HIDDEN"}}, ev["data"])
	require.NotContains(t, res.body, "secret")

	for q, want := range map[string]int{
		"types=audit.app.task.create":                       1,
		"types=audit.app.task.create,audit.app.task.cancel": 2,
		"target_guids=other":                                0,
		"created_ats%5Bgte%5D=2000-01-01T00:00:00Z":         2,
		"order_by=-created_at&per_page=1":                   2,
	} {
		res := b.do(t, http.MethodGet, "/v3/audit_events?"+q, "good")
		require.Equal(t, http.StatusOK, res.status, res.body)
		require.NoError(t, json.Unmarshal([]byte(res.body), &list))
		require.Equal(t, want, list.Pagination.TotalResults, q)
	}
	res = b.do(t, http.MethodGet, "/v3/audit_events?space_guids=x", "good")
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Contains(t, res.body, "Unknown query parameter(s): 'space_guids'")
	require.Equal(t, http.StatusUnauthorized, b.do(t, http.MethodGet, "/v3/audit_events", "").status)

	refused := setup(t, grants{read: true, write: true, readTask: true})
	require.Equal(t, bodyNotAuthorized, refused.do(t, http.MethodGet, "/v3/audit_events", "good").body)
}
