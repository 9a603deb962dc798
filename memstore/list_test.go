package memstore

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/tasklife/tasklife"
)

// TestListPlansAgreeWithAScan: whatever index drives a list, and however
// far behind the writes the indexes were when it began, its page and total
// are those of a scan of every task that sorts what matches. Creates,
// transitions, metadata patches, deletions and lists come in any order, so
// the indexes catch up with any mix of writes.
func TestListPlansAgreeWithAScan(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		clock := start.Add(-time.Microsecond)
		s := New(WithClock(func() time.Time { return clock }))
		apps, names := []string{"a", "b", "c"}, []string{"x", "y", "z", "w"}
		var guids []string
		for range rapid.IntRange(1, 120).Draw(rt, "steps") {
			// The clock moves by 0 to 2 microseconds, sometimes back, and
			// sometimes by a second.
			tick := time.Duration(rapid.IntRange(-1, 2).Draw(rt, "tick")) * time.Microsecond
			if rapid.IntRange(0, 15).Draw(rt, "second") == 0 {
				tick = time.Second
			}
			clock = clock.Add(tick)
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op < 3 || len(guids) == 0:
				task, err := s.Create(ctx, &tasklife.Task{AppGUID: rapid.SampledFrom(apps).Draw(rt, "app"),
					Name: rapid.SampledFrom(names).Draw(rt, "name"), Command: "c"}, nil)
				require.NoError(rt, err)
				guids = append(guids, task.GUID)
			case op < 6:
				to := rapid.SampledFrom(states).Draw(rt, "to")
				reason := ""
				if to == tasklife.StateFailed {
					reason = "boom"
				}
				_, err := s.Transition(ctx, tasklife.TransitionRequest{GUID: rapid.SampledFrom(guids).Draw(rt, "task"),
					From: states, To: to, FailureReason: reason})
				if err != nil {
					require.ErrorIs(rt, err, tasklife.ErrNotFound) // deleted
				}
			case op == 6:
				// Set tier to 1 or 2, or delete it; team is set once.
				patch := map[string]*string{}
				if v := rapid.SampledFrom([]string{"1", "2", ""}).Draw(rt, "tier"); v != "" {
					patch["tier"] = &v
				} else {
					patch["tier"] = nil
				}
				if rapid.Bool().Draw(rt, "team") {
					team := "a"
					patch["team"] = &team
				}
				_, err := s.UpdateMetadata(ctx, rapid.SampledFrom(guids).Draw(rt, "task"),
					tasklife.MetadataPatch{Labels: patch})
				if err != nil {
					require.ErrorIs(rt, err, tasklife.ErrNotFound) // deleted
				}
			case op == 7:
				_, err := s.DeleteEnded(ctx, clock.Add(-time.Duration(rapid.IntRange(0, 20).Draw(rt, "age"))*time.Microsecond), 1000)
				require.NoError(rt, err)
			default:
				checkList(rt, s, randomQuery(rt, apps, names, guids, start))
			}
		}
		checkList(rt, s, randomQuery(rt, apps, names, guids, start))
	})
}

// randomQuery draws a normalized query over the given values.
func randomQuery(rt *rapid.T, apps, names, guids []string, start time.Time) tasklife.ListQuery {
	sub := func(label string, from []string) []string {
		return rapid.SliceOfNDistinct(rapid.SampledFrom(from), 0, 3, rapid.ID).Draw(rt, label)
	}
	q := tasklife.ListQuery{
		AppGUIDs:   sub("apps", apps),
		Names:      sub("names", names),
		Descending: rapid.Bool().Draw(rt, "desc"),
		Page:       rapid.IntRange(1, 4).Draw(rt, "page"),
		PerPage:    rapid.IntRange(1, 7).Draw(rt, "per_page"),
	}
	if len(guids) > 0 && rapid.Bool().Draw(rt, "by guid") {
		q.GUIDs = sub("guids", guids)
	}
	if rapid.Bool().Draw(rt, "by updated") {
		q.OrderBy = tasklife.OrderByUpdatedAt
	}
	for _, st := range sub("states", []string{"PENDING", "RUNNING", "CANCELING", "SUCCEEDED", "FAILED"}) {
		q.States = append(q.States, tasklife.State(st))
	}
	if len(q.AppGUIDs) == 1 && rapid.Bool().Draw(rt, "by sequence id") {
		q.SequenceIDs = []int64{int64(rapid.IntRange(1, 20).Draw(rt, "seq")), int64(rapid.IntRange(1, 20).Draw(rt, "seq"))}
	}
	reqs := []tasklife.LabelRequirement{
		{Key: "tier", Op: tasklife.LabelEqual, Values: []string{"1"}},
		{Key: "tier", Op: tasklife.LabelIn, Values: []string{"1", "2"}},
		{Key: "tier", Op: tasklife.LabelNotEqual, Values: []string{"2"}},
		{Key: "team", Op: tasklife.LabelExists},
		{Key: "team", Op: tasklife.LabelEqual, Values: []string{"a"}},
	}
	for range rapid.IntRange(0, 2).Draw(rt, "labels") {
		q.LabelSelector = append(q.LabelSelector, rapid.SampledFrom(reqs).Draw(rt, "requirement"))
	}
	// Time bounds fall on whole seconds: the clock starts a microsecond
	// before one, so a bound splits the tasks.
	bound := func(label string) time.Time {
		return start.Add(time.Duration(rapid.IntRange(0, 2).Draw(rt, label)) * time.Second)
	}
	for _, f := range []*tasklife.TimeFilter{&q.CreatedAts, &q.UpdatedAts} {
		switch rapid.IntRange(0, 5).Draw(rt, "time filter") {
		case 0:
			f.Gt = bound("gt")
		case 1:
			f.Gte = bound("gte")
		case 2:
			f.Lt = bound("lt")
		case 3:
			f.Lte, f.Gte = bound("lte"), bound("gte")
		}
	}
	q, err := q.Normalize()
	require.NoError(rt, err)
	return q
}

// checkList lists q and compares the answer with a scan.
func checkList(t require.TestingT, s *Store, q tasklife.ListQuery) {
	got, err := s.List(context.Background(), q)
	require.NoError(t, err)
	want := scan(s, q)
	require.Equal(t, len(want), got.TotalResults, "total of %+v", q)
	from := min((q.Page-1)*q.PerPage, len(want))
	require.Equal(t, want[from:min(from+q.PerPage, len(want))], guidsOf(got.Tasks), "page of %+v", q)
}

// scan is the list no index helps: every task, filtered, sorted.
func scan(s *Store, q tasklife.ListQuery) []string {
	var hits []*record
	for i := range s.shards {
		s.shards[i].mu.RLock()
		for _, r := range s.shards[i].tasks {
			if matches(r, q) {
				hits = append(hits, r)
			}
		}
		s.shards[i].mu.RUnlock()
	}
	slices.SortFunc(hits, func(a, b *record) int {
		c := cmp.Compare(a.created, b.created)
		if q.OrderBy == tasklife.OrderByUpdatedAt {
			c = cmp.Compare(a.updated, b.updated)
		}
		if c == 0 {
			c = cmp.Compare(a.order, b.order)
		}
		return c
	})
	if q.Descending {
		slices.Reverse(hits)
	}
	out := []string{}
	for _, r := range hits {
		out = append(out, r.guid())
	}
	return out
}

func guidsOf(tasks []*tasklife.Task) []string {
	out := []string{}
	for _, t := range tasks {
		out = append(out, t.GUID)
	}
	return out
}

// A list sees one moment while writes go on: its total is the number of
// tasks of the state it asks for, and its page holds only tasks of that
// state. Two writers cancel every task, PENDING -> CANCELING, while lists
// run: PENDING and CANCELING together are always every task.
func TestListsSeeOneMomentDuringWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New()
	const n = 2000
	guids := make([]string, n)
	for i := range guids {
		task, err := s.Create(ctx, &tasklife.Task{AppGUID: "a", Command: "c"}, nil)
		require.NoError(t, err)
		guids[i] = task.GUID
	}
	var wg sync.WaitGroup
	writing := make(chan struct{})
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				_, err := s.Transition(ctx, tasklife.TransitionRequest{GUID: guids[i],
					From: []tasklife.State{tasklife.StatePending}, To: tasklife.StateCanceling})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(writing) }()
	both := []tasklife.State{tasklife.StatePending, tasklife.StateCanceling}
	for done := false; !done; {
		select {
		case <-writing:
			done = true // one more round, after the last write
		default:
		}
		pending, err := s.List(ctx, tasklife.ListQuery{States: both[:1], Page: 1, PerPage: 50, OrderBy: tasklife.OrderByUpdatedAt})
		require.NoError(t, err)
		for _, task := range pending.Tasks {
			require.Equal(t, tasklife.StatePending, task.State)
		}
		all, err := s.List(ctx, tasklife.ListQuery{States: both, Page: 1, PerPage: 1, OrderBy: tasklife.OrderByUpdatedAt})
		require.NoError(t, err)
		require.Equal(t, n, all.TotalResults)
		if done {
			require.Zero(t, pending.TotalResults)
		}
	}
}
