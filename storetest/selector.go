package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

// testListLabelSelector: each operator, and requirements combined with AND;
// a task without labels satisfies the negations, as in Cloud Foundry.
func testListLabelSelector(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var tasks []*tasklife.Task
	for _, labels := range []map[string]string{
		{"env": "prod", "tier": "web"},
		{"env": "dev", "tier": "web"},
		{"env": "prod"},
		nil,
		{"example.com/team": "a"},
	} {
		nt := b.newTask()
		nt.Labels = labels
		task, err := b.svc.Create(b.ctx, nt)
		require.NoError(t, err)
		tasks = append(tasks, task)
	}
	for _, tc := range []struct {
		selector string
		want     []int
	}{
		{"env=prod", []int{0, 2}},
		{"env==prod", []int{0, 2}},
		{"env!=prod", []int{1, 3, 4}},
		{"env in (dev,prod)", []int{0, 1, 2}},
		{"env notin (dev,prod)", []int{3, 4}},
		{"tier", []int{0, 1}},
		{"!tier", []int{2, 3, 4}},
		{"env=prod,tier", []int{0}},
		{"env=prod, !tier", []int{2}},
		{"example.com/team=a", []int{4}},
		{"env=staging", nil},
	} {
		reqs, err := tasklife.ParseLabelSelector(tc.selector)
		require.NoError(t, err, tc.selector)
		page, err := b.svc.List(b.ctx, tasklife.ListQuery{AppGUIDs: []string{b.app}, LabelSelector: reqs})
		require.NoError(t, err, tc.selector)
		var want []string
		for _, i := range tc.want {
			want = append(want, tasks[i].GUID)
		}
		require.Equal(t, len(want), page.TotalResults, tc.selector)
		require.Equal(t, want, nilIfEmpty(guids(page.Tasks)), tc.selector)
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// testListTimeFilters: created_ats and updated_ats, exact seconds and
// bounds, as Cloud Controller compares them (a second is a span).
func testListTimeFilters(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	task := b.create(t)
	sec := task.CreatedAt.Truncate(time.Second)
	for _, tc := range []struct {
		name string
		f    tasklife.TimeFilter
		hit  bool
	}{
		{"equal its second", tasklife.TimeFilter{Equal: []time.Time{sec}}, true},
		{"equal another second", tasklife.TimeFilter{Equal: []time.Time{sec.Add(time.Second)}}, false},
		{"equal either", tasklife.TimeFilter{Equal: []time.Time{sec.Add(-time.Hour), sec}}, true},
		{"lt its second", tasklife.TimeFilter{Lt: sec}, false},
		{"lte its second", tasklife.TimeFilter{Lte: sec}, true},
		{"gt its second", tasklife.TimeFilter{Gt: sec}, false},
		{"gte its second", tasklife.TimeFilter{Gte: sec}, true},
		{"gt the second before", tasklife.TimeFilter{Gt: sec.Add(-time.Second)}, true},
		{"between", tasklife.TimeFilter{Gt: sec.Add(-time.Hour), Lt: sec.Add(time.Hour)}, true},
		{"empty range", tasklife.TimeFilter{Gte: sec, Lt: sec}, false},
	} {
		for _, field := range []string{"created_ats", "updated_ats"} {
			q := tasklife.ListQuery{AppGUIDs: []string{b.app}}
			if field == "created_ats" {
				q.CreatedAts = tc.f
			} else {
				q.UpdatedAts = tc.f
			}
			page, err := b.svc.List(b.ctx, q)
			require.NoError(t, err)
			require.Equal(t, tc.hit, page.TotalResults == 1, "%s %s", field, tc.name)
		}
	}
}
