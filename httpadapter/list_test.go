package httpadapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

type wireHref struct {
	Href string `json:"href"`
}

type wirePagination struct {
	TotalResults int       `json:"total_results"`
	TotalPages   int       `json:"total_pages"`
	First        wireHref  `json:"first"`
	Last         wireHref  `json:"last"`
	Next         *wireHref `json:"next"`
	Previous     *wireHref `json:"previous"`
}

type wireList struct {
	Pagination wirePagination `json:"pagination"`
	Resources  []wireTask     `json:"resources"`
}

// page builds the pagination the adapter must give; a link argument of ""
// is null.
func pagination(total, pages int, first, last, next, previous string) wirePagination {
	p := wirePagination{TotalResults: total, TotalPages: pages, First: wireHref{first}, Last: wireHref{last}}
	if next != "" {
		p.Next = &wireHref{next}
	}
	if previous != "" {
		p.Previous = &wireHref{previous}
	}
	return p
}

// listFixture is five tasks: app-a has 1 (RUNNING), 2 (PENDING),
// 3 (FAILED); app-b has 1 (SUCCEEDED), 2 (CANCELING). They are created in
// that order; the first one is updated last.
func listFixture(t *testing.T, b *bundle) []*tasklife.Task {
	t.Helper()
	tasks := []*tasklife.Task{
		b.create(t, "app-a", tasklife.StatePending),
		b.create(t, "app-a", tasklife.StatePending),
		b.create(t, "app-a", tasklife.StateFailed),
		b.create(t, "app-b", tasklife.StateSucceeded),
		b.create(t, "app-b", tasklife.StateCanceling),
	}
	var err error
	tasks[0], err = b.svc.Start(context.Background(), tasks[0].GUID)
	require.NoError(t, err)
	b.changes.Store(0)
	return tasks
}

func TestList(t *testing.T) {
	t.Parallel()
	const base = "http://example.com/v3/tasks?"
	b := setup(t, all)
	// The memstore clock is fixed, so creation order is what orders.
	tk := listFixture(t, b)
	tests := []struct {
		name       string
		query      string
		pagination wirePagination
		want       []*tasklife.Task
	}{
		{name: "everything", query: "",
			pagination: pagination(5, 1, base+"page=1&per_page=50", base+"page=1&per_page=50", "", ""),
			want:       tk},
		{name: "page 2 of 3", query: "per_page=2&page=2",
			pagination: pagination(5, 3, base+"page=1&per_page=2", base+"page=3&per_page=2", base+"page=3&per_page=2", base+"page=1&per_page=2"),
			want:       tk[2:4]},
		{name: "last page", query: "per_page=2&page=3",
			pagination: pagination(5, 3, base+"page=1&per_page=2", base+"page=3&per_page=2", "", base+"page=2&per_page=2"),
			want:       tk[4:]},
		{name: "past the end", query: "per_page=2&page=9",
			pagination: pagination(5, 3, base+"page=1&per_page=2", base+"page=3&per_page=2", "", base+"page=8&per_page=2"),
			want:       nil},
		{name: "states, links keep the filter, keys sorted", query: "states=RUNNING,PENDING&per_page=1",
			pagination: pagination(2, 2, base+"page=1&per_page=1&states=RUNNING%2CPENDING", base+"page=2&per_page=1&states=RUNNING%2CPENDING", base+"page=2&per_page=1&states=RUNNING%2CPENDING", ""),
			want:       tk[:1]},
		{name: "app_guids", query: "app_guids=app-b",
			pagination: pagination(2, 1, base+"app_guids=app-b&page=1&per_page=50", base+"app_guids=app-b&page=1&per_page=50", "", ""),
			want:       tk[3:]},
		{name: "guids", query: "guids=" + tk[4].GUID + "," + tk[1].GUID,
			pagination: pagination(2, 1, base+"guids="+tk[4].GUID+"%2C"+tk[1].GUID+"&page=1&per_page=50", base+"guids="+tk[4].GUID+"%2C"+tk[1].GUID+"&page=1&per_page=50", "", ""),
			want:       []*tasklife.Task{tk[1], tk[4]}},
		{name: "names matching nothing", query: "names=nope",
			pagination: pagination(0, 1, base+"names=nope&page=1&per_page=50", base+"names=nope&page=1&per_page=50", "", ""),
			want:       nil},
		{name: "descending", query: "order_by=-created_at&per_page=5000",
			pagination: pagination(5, 1, base+"order_by=-created_at&page=1&per_page=5000", base+"order_by=-created_at&page=1&per_page=5000", "", ""),
			want:       []*tasklife.Task{tk[4], tk[3], tk[2], tk[1], tk[0]}},
		{name: "repeated key: the last wins", query: "per_page=1&per_page=3",
			pagination: pagination(5, 2, base+"page=1&per_page=3", base+"page=2&per_page=3", base+"page=2&per_page=3", ""),
			want:       tk[:3]},
		{name: "combined filters", query: "app_guids=app-a&states=FAILED,SUCCEEDED&names=migrate",
			pagination: pagination(1, 1, base+"app_guids=app-a&names=migrate&page=1&per_page=50&states=FAILED%2CSUCCEEDED", base+"app_guids=app-a&names=migrate&page=1&per_page=50&states=FAILED%2CSUCCEEDED", "", ""),
			want:       tk[2:3]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := b.do(t, http.MethodGet, "/v3/tasks?"+tt.query, "good")
			require.Equal(t, http.StatusOK, res.status, res.body)
			want := wireList{Pagination: tt.pagination, Resources: []wireTask{}}
			for _, task := range tt.want {
				current, err := b.svc.Get(context.Background(), task.GUID)
				require.NoError(t, err)
				// GET /v3/tasks never shows a command, secrets or not.
				want.Resources = append(want.Resources, wire(current, "http://example.com", false))
			}
			require.Equal(t, marshal(want), res.body)
		})
	}
}

func TestListOrderByUpdatedAt(t *testing.T) {
	t.Parallel()
	var tick atomic.Int64
	clock := func() time.Time { return t0.Add(time.Duration(tick.Add(1)) * time.Second) }
	b := setupStore(t, memstore.New(memstore.WithClock(clock)), all)
	ctx := context.Background()
	a := b.create(t, "app", tasklife.StatePending)
	c := b.create(t, "app", tasklife.StatePending)
	_, err := b.svc.Start(ctx, a.GUID) // a is now the latest updated
	require.NoError(t, err)
	for query, want := range map[string][]string{
		"":                       {a.GUID, c.GUID},
		"order_by=":              {a.GUID, c.GUID},
		"order_by=created_at":    {a.GUID, c.GUID},
		"order_by=-created_at":   {c.GUID, a.GUID},
		"order_by=updated_at":    {c.GUID, a.GUID},
		"order_by=%2Bupdated_at": {c.GUID, a.GUID},
		"order_by=-updated_at":   {a.GUID, c.GUID},
	} {
		res := b.do(t, http.MethodGet, "/v3/tasks?"+query, "good")
		require.Equal(t, http.StatusOK, res.status)
		var got wireList
		require.NoError(t, json.Unmarshal([]byte(res.body), &got))
		var guids []string
		for _, r := range got.Resources {
			guids = append(guids, r.GUID)
		}
		require.Equal(t, want, guids, query)
	}
}

func TestListForApp(t *testing.T) {
	t.Parallel()
	const base = "http://example.com/v3/apps/app-a/tasks?"
	tests := []struct {
		name       string
		auth       grants
		query      string
		pagination wirePagination
		want       []int // indexes into the fixture
		command    bool
	}{
		{name: "with secrets", auth: all, query: "",
			pagination: pagination(3, 1, base+"page=1&per_page=50", base+"page=1&per_page=50", "", ""),
			want:       []int{0, 1, 2}, command: true},
		{name: "without secrets", auth: grants{read: true, readTask: true}, query: "",
			pagination: pagination(3, 1, base+"page=1&per_page=50", base+"page=1&per_page=50", "", ""),
			want:       []int{0, 1, 2}},
		{name: "cf CLI terminate-task lookup", auth: all, query: "sequence_ids=2&per_page=1&page=1",
			pagination: pagination(1, 1, base+"page=1&per_page=1&sequence_ids=2", base+"page=1&per_page=1&sequence_ids=2", "", ""),
			want:       []int{1}, command: true},
		{name: "sequence ids and states", auth: all, query: "sequence_ids=1,2,3&states=FAILED",
			pagination: pagination(1, 1, base+"page=1&per_page=50&sequence_ids=1%2C2%2C3&states=FAILED", base+"page=1&per_page=50&sequence_ids=1%2C2%2C3&states=FAILED", "", ""),
			want:       []int{2}, command: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.auth)
			tk := listFixture(t, b)
			res := b.do(t, http.MethodGet, "/v3/apps/app-a/tasks?"+tt.query, "good")
			require.Equal(t, http.StatusOK, res.status, res.body)
			want := wireList{Pagination: tt.pagination, Resources: []wireTask{}}
			for _, i := range tt.want {
				current, err := b.svc.Get(context.Background(), tk[i].GUID)
				require.NoError(t, err)
				want.Resources = append(want.Resources, wire(current, "http://example.com", tt.command))
			}
			require.Equal(t, marshal(want), res.body)
		})
	}
}

func TestListQueryErrors(t *testing.T) {
	t.Parallel()
	const validAll = "Valid parameters are: 'names', 'states', 'guids', 'app_guids', 'label_selector', 'created_ats', 'updated_ats', 'page', 'per_page', 'order_by'"
	const validApp = "Valid parameters are: 'names', 'states', 'guids', 'sequence_ids', 'label_selector', 'created_ats', 'updated_ats', 'page', 'per_page', 'order_by'"
	tests := []struct {
		path string
		what string
	}{
		{"/v3/tasks?per_page=0", "Per page must be a positive integer"},
		{"/v3/tasks?per_page=-3", "Per page must be a positive integer"},
		{"/v3/tasks?per_page=5001", "Per page must be between 1 and 5000"},
		{"/v3/tasks?per_page=99999999999999999999", "Per page must be a positive integer"},
		{"/v3/tasks?per_page=", "Per page must be a positive integer"},
		{"/v3/tasks?page=0", "Page must be a positive integer"},
		{"/v3/tasks?page=abc", "Page must be a positive integer"},
		{"/v3/tasks?page=1.5", "Page must be a positive integer"},
		{"/v3/tasks?page=2abc", "Page must be a positive integer"},
		{"/v3/tasks?foo=bar", "Unknown query parameter(s): 'foo'. " + validAll},
		{"/v3/tasks?zeta=1&alpha=2", "Unknown query parameter(s): 'alpha', 'zeta'. " + validAll},
		{"/v3/tasks?sequence_ids=1", "Unknown query parameter(s): 'sequence_ids'. " + validAll},
		{"/v3/apps/a/tasks?app_guids=a", "Unknown query parameter(s): 'app_guids'. " + validApp},
		{"/v3/tasks?states=running", "States can only be: 'PENDING', 'RUNNING', 'CANCELING', 'SUCCEEDED', 'FAILED'"},
		{"/v3/tasks?states=RUNNING,", "States can only be: 'PENDING', 'RUNNING', 'CANCELING', 'SUCCEEDED', 'FAILED'"},
		{"/v3/apps/a/tasks?sequence_ids=1,x", "Sequence ids must be integers"},
		{"/v3/tasks?order_by=name", "Order by can only be: 'created_at', 'updated_at'"},
		{"/v3/tasks?order_by=--created_at", "Order by can only be: 'created_at', 'updated_at'"},
		{"/v3/tasks?order_by=%2B-created_at", "Order by can only be: 'created_at', 'updated_at'"},
		{"/v3/tasks?order_by=-", "Order by can only be: 'created_at', 'updated_at'"},
		{"/v3/tasks?a=%zz", "The query string is malformed"},
		{"/v3/tasks?names=" + strings.Repeat("n,", tasklife.MaxFilterValues) + "n", "Names must have at most 1000 values"},
		{"/v3/apps/a/tasks?sequence_ids=" + strings.Repeat("1,", tasklife.MaxFilterValues) + "1&guids=" + strings.Repeat("g,", tasklife.MaxFilterValues) + "g",
			"Guids must have at most 1000 values, Sequence ids must have at most 1000 values"},
		{"/v3/tasks?foo=1&page=0&per_page=9999", "Unknown query parameter(s): 'foo'. " + validAll +
			", Page must be a positive integer, Per page must be between 1 and 5000"},
		{"/v3/apps/a/tasks?order_by=name&per_page=x&page=0&sequence_ids=y&states=z&bogus=1", "Unknown query parameter(s): 'bogus'. " + validApp +
			", States can only be: 'PENDING', 'RUNNING', 'CANCELING', 'SUCCEEDED', 'FAILED', Sequence ids must be integers" +
			", Page must be a positive integer, Per page must be a positive integer, Order by can only be: 'created_at', 'updated_at'"},
	}
	b := setup(t, all)
	b.create(t, "a", tasklife.StateRunning)
	for _, tt := range tests {
		res := b.do(t, http.MethodGet, tt.path, "good")
		require.Equal(t, http.StatusBadRequest, res.status, tt.path)
		require.Equal(t, bodyBadQuery(tt.what), res.body, tt.path)
	}
}

func TestListAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		token  string
		auth   grants
		status int
		body   string
	}{
		{"", all, 401, bodyNotAuthenticated},
		{"bad", all, 401, bodyInvalidToken},
		{"good", grants{write: true, readTask: true}, 403, bodyNotAuthorized},
	}
	for _, tt := range tests {
		b := setup(t, tt.auth)
		b.create(t, "a", tasklife.StateRunning)
		// Authentication comes before query validation, as in CC.
		for _, path := range []string{"/v3/tasks", "/v3/apps/a/tasks", "/v3/tasks?bogus=1"} {
			res := b.do(t, http.MethodGet, path, tt.token)
			require.Equal(t, tt.status, res.status, path)
			require.Equal(t, tt.body, res.body, path)
		}
	}
}

// hiding lets the principal see only app-a's tasks; scopingHiding also
// narrows lists to app-a before they reach the store.
type hiding struct {
	grants
}

func (h hiding) Authorize(ctx context.Context, p httpadapter.Principal, perm httpadapter.Permission, t *tasklife.Task) (bool, error) {
	if t != nil && t.AppGUID != "app-a" {
		return false, nil
	}
	return h.grants.Authorize(ctx, p, perm, t)
}

type scopingHiding struct{ hiding }

func (scopingHiding) ScopeList(_ context.Context, _ httpadapter.Principal, q *tasklife.ListQuery) error {
	if len(q.AppGUIDs) > 0 && !slices.Contains(q.AppGUIDs, "app-a") {
		return httpadapter.ResourceNotFound("App")
	}
	q.AppGUIDs = []string{"app-a"}
	return nil
}

// rescoping hands the store a query of its own making.
type rescoping struct {
	grants
	scope func(q *tasklife.ListQuery)
}

func (r rescoping) ScopeList(_ context.Context, _ httpadapter.Principal, q *tasklife.ListQuery) error {
	r.scope(q)
	return nil
}

// TestListScoperChangesThePage: the links page through the query the store
// ran, and what the Service refuses of a scoped query is a 400.
func TestListScoperChangesThePage(t *testing.T) {
	t.Parallel()
	const base = "http://example.com/v3/tasks?"
	cleared := setup(t, rescoping{all, func(q *tasklife.ListQuery) { q.Page, q.PerPage = 0, 0 }})
	listFixture(t, cleared)
	res := cleared.do(t, http.MethodGet, "/v3/tasks?page=2&per_page=1", "good")
	require.Equal(t, http.StatusOK, res.status, res.body)
	var got wireList
	require.NoError(t, json.Unmarshal([]byte(res.body), &got))
	require.Equal(t, pagination(5, 1, base+"page=1&per_page=50", base+"page=1&per_page=50", "", ""), got.Pagination)
	require.Len(t, got.Resources, 5)

	broken := setup(t, rescoping{all, func(q *tasklife.ListQuery) { q.PerPage, q.Page = 9999, -1 }})
	res = broken.do(t, http.MethodGet, "/v3/tasks", "good")
	require.Equal(t, response{400, nil, bodyBadQuery("Page must be a positive integer, Per page must be between 1 and 5000")}, strip(res))
}

func TestListHidesUnreadableTasks(t *testing.T) {
	t.Parallel()
	t.Run("without ListScoper the page is filtered", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hiding{all})
		listFixture(t, b)
		var got wireList
		res := b.do(t, http.MethodGet, "/v3/tasks", "good")
		require.NoError(t, json.Unmarshal([]byte(res.body), &got))
		require.Len(t, got.Resources, 3)
		for _, r := range got.Resources {
			require.Equal(t, "app-a", r.Relationships.App.Data.GUID)
		}
	})
	t.Run("with ListScoper the totals are right too", func(t *testing.T) {
		t.Parallel()
		b := setup(t, scopingHiding{hiding{all}})
		listFixture(t, b)
		var got wireList
		res := b.do(t, http.MethodGet, "/v3/tasks?per_page=2", "good")
		require.NoError(t, json.Unmarshal([]byte(res.body), &got))
		require.Equal(t, 3, got.Pagination.TotalResults)
		require.Len(t, got.Resources, 2)
		res = b.do(t, http.MethodGet, "/v3/apps/app-b/tasks", "good")
		require.Equal(t, response{404, nil, bodyAppNotFound}, strip(res))
	})
}

func TestListForAppExists(t *testing.T) {
	t.Parallel()
	exists := func(_ context.Context, p httpadapter.Principal, app string) (bool, error) {
		require.Equal(t, "alice", p)
		if app == "broken" {
			return false, errors.New("registry down")
		}
		return app == "app-a", nil
	}
	b := setup(t, all, httpadapter.WithAppExists(exists), httpadapter.WithLogger(slog.New(slog.DiscardHandler)))
	listFixture(t, b)
	require.Equal(t, response{404, nil, bodyAppNotFound}, strip(b.do(t, http.MethodGet, "/v3/apps/app-b/tasks", "good")))
	require.Equal(t, response{500, nil, bodyUnknownError}, strip(b.do(t, http.MethodGet, "/v3/apps/broken/tasks", "good")))
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v3/apps/app-a/tasks", "good").status)

	// Without the hook an app nobody has heard of lists no tasks.
	b2 := setup(t, all)
	res := b2.do(t, http.MethodGet, "/v3/apps/ghost/tasks", "good")
	require.Equal(t, http.StatusOK, res.status)
	const base = "http://example.com/v3/apps/ghost/tasks?page=1&per_page=50"
	require.Equal(t, marshal(wireList{Pagination: pagination(0, 1, base, base, "", ""), Resources: []wireTask{}}), res.body)
}
