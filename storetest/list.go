package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

// listFixture creates, in this order: three tasks of app A named "a", "b",
// "a" and two of app B named "a", "c"; then starts A's second task and fails
// B's first.
func listFixture(t *testing.T, b *bundle) (appA, appB string, tasks []*tasklife.Task) {
	t.Helper()
	appA, appB = uuid.NewString(), uuid.NewString()
	for _, spec := range []struct{ app, name string }{{appA, "a"}, {appA, "b"}, {appA, "a"}, {appB, "a"}, {appB, "c"}} {
		task, err := b.svc.Create(b.ctx, tasklife.NewTask{AppGUID: spec.app, Name: spec.name, Command: "true"})
		require.NoError(t, err)
		tasks = append(tasks, task)
	}
	var err error
	tasks[1], err = b.svc.Start(b.ctx, tasks[1].GUID)
	require.NoError(t, err)
	tasks[3], err = b.svc.Fail(b.ctx, tasks[3].GUID, reason)
	require.NoError(t, err)
	return appA, appB, tasks
}

func guids(tasks []*tasklife.Task) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.GUID
	}
	return out
}

func testListFilters(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	appA, appB, tasks := listFixture(t, b)
	both := []string{appA, appB}
	pick := func(is ...int) []string {
		var out []string
		for _, i := range is {
			out = append(out, tasks[i].GUID)
		}
		return out
	}
	cases := []struct {
		name string
		q    tasklife.ListQuery
		want []string
	}{
		{"app A", tasklife.ListQuery{AppGUIDs: []string{appA}}, pick(0, 1, 2)},
		{"both apps", tasklife.ListQuery{AppGUIDs: both}, pick(0, 1, 2, 3, 4)},
		{"names", tasklife.ListQuery{AppGUIDs: both, Names: []string{"a"}}, pick(0, 2, 3)},
		{"two names", tasklife.ListQuery{AppGUIDs: both, Names: []string{"b", "c"}}, pick(1, 4)},
		{"states", tasklife.ListQuery{AppGUIDs: both, States: []tasklife.State{tasklife.StatePending}}, pick(0, 2, 4)},
		{"two states", tasklife.ListQuery{AppGUIDs: both, States: []tasklife.State{tasklife.StateRunning, tasklife.StateFailed}}, pick(1, 3)},
		{"guids", tasklife.ListQuery{GUIDs: pick(4, 0, 4)}, pick(0, 4)},
		{"guids and app", tasklife.ListQuery{GUIDs: pick(0, 3), AppGUIDs: []string{appB}}, pick(3)},
		{"unknown guid", tasklife.ListQuery{GUIDs: []string{uuid.NewString()}}, nil},
		{"sequence ids", tasklife.ListQuery{AppGUIDs: []string{appA}, SequenceIDs: []int64{1, 3}}, pick(0, 2)},
		{"sequence id of other app", tasklife.ListQuery{AppGUIDs: []string{appB}, SequenceIDs: []int64{3}}, nil},
		{"all filters", tasklife.ListQuery{AppGUIDs: []string{appA}, Names: []string{"a"}, States: []tasklife.State{tasklife.StatePending}, SequenceIDs: []int64{3}}, pick(2)},
	}
	for _, tc := range cases {
		page, err := b.svc.List(b.ctx, tc.q)
		require.NoError(t, err, tc.name)
		require.Equal(t, len(tc.want), page.TotalResults, tc.name)
		require.Equal(t, tc.want, append([]string(nil), guids(page.Tasks)...), tc.name)
		for _, got := range page.Tasks {
			require.Equal(t, b.get(t, got.GUID), got, "%s: listed tasks are complete", tc.name)
		}
	}

	for name, q := range map[string]tasklife.ListQuery{
		"per_page 0 is the default, 5001 too many": {PerPage: 5001},
		"negative page":               {Page: -1},
		"sequence ids without an app": {SequenceIDs: []int64{1}},
		"sequence ids with two apps":  {SequenceIDs: []int64{1}, AppGUIDs: both},
		"unknown state":               {States: []tasklife.State{"DONE"}},
		"unknown order":               {OrderBy: "name"},
	} {
		_, err := b.svc.List(b.ctx, q)
		require.ErrorIs(t, err, tasklife.ErrInvalidInput, name)
	}
}

func testListOrder(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var tasks []*tasklife.Task
	for range 4 {
		tasks = append(tasks, b.create(t))
		time.Sleep(2 * time.Millisecond) // distinct created_at even at millisecond clocks
	}
	// Touch them in the order 2, 0 so updated_at orders 1, 3, 2, 0.
	for _, i := range []int{2, 0} {
		var err error
		tasks[i], err = b.svc.Start(b.ctx, tasks[i].GUID)
		require.NoError(t, err)
		time.Sleep(2 * time.Millisecond)
	}
	in := func(is ...int) []string {
		out := make([]string, len(is))
		for k, i := range is {
			out[k] = tasks[i].GUID
		}
		return out
	}
	app := []string{b.app}
	cases := []struct {
		q    tasklife.ListQuery
		want []string
	}{
		{tasklife.ListQuery{AppGUIDs: app}, in(0, 1, 2, 3)},
		{tasklife.ListQuery{AppGUIDs: app, OrderBy: tasklife.OrderByCreatedAt}, in(0, 1, 2, 3)},
		{tasklife.ListQuery{AppGUIDs: app, OrderBy: tasklife.OrderByCreatedAt, Descending: true}, in(3, 2, 1, 0)},
		{tasklife.ListQuery{AppGUIDs: app, OrderBy: tasklife.OrderByUpdatedAt}, in(1, 3, 2, 0)},
		{tasklife.ListQuery{AppGUIDs: app, OrderBy: tasklife.OrderByUpdatedAt, Descending: true}, in(0, 2, 3, 1)},
	}
	for _, tc := range cases {
		page, err := b.svc.List(b.ctx, tc.q)
		require.NoError(t, err)
		require.Equal(t, tc.want, guids(page.Tasks), "%+v", tc.q)
	}
}

func testListPagination(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var all []string
	for range 7 {
		all = append(all, b.create(t).GUID)
	}
	app := []string{b.app}
	var seen []string
	for page := 1; page <= 4; page++ {
		p, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: app, Page: page, PerPage: 3})
		require.NoError(t, err)
		require.Equal(t, 7, p.TotalResults, "the total counts every page")
		require.NotNil(t, p.Tasks)
		switch page {
		case 1, 2:
			require.Len(t, p.Tasks, 3)
		case 3:
			require.Len(t, p.Tasks, 1)
		case 4:
			require.Empty(t, p.Tasks, "a page past the end is empty, not an error")
		}
		seen = append(seen, guids(p.Tasks)...)
	}
	require.Equal(t, all, seen, "pages partition the list in order")

	p, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: app})
	require.NoError(t, err)
	require.Len(t, p.Tasks, 7, "the default page size holds them all")
	p, err = b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: app, Page: 1 << 40, PerPage: tasklife.MaxPerPage})
	require.NoError(t, err)
	require.Empty(t, p.Tasks, "a huge page number is just past the end")
	require.Equal(t, 7, p.TotalResults)
	p, err = b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: []string{uuid.NewString()}})
	require.NoError(t, err)
	require.Equal(t, 0, p.TotalResults)
	require.NotNil(t, p.Tasks, "an empty page is an empty slice")
}
