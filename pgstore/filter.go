package pgstore

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/tasklife/tasklife"
)

// listFilter returns q's filters as a WHERE clause (empty when q selects
// everything) and its arguments. A filter with one value is an equality,
// which lets the planner walk an index in the requested order (PostgreSQL 15
// cannot do that for "= ANY"); several values are one "= ANY" over an array.
func listFilter(q tasklife.ListQuery) (string, []any) {
	var f filter
	addValues(&f, "guid", q.GUIDs)
	addValues(&f, "app_guid", q.AppGUIDs)
	addValues(&f, "sequence_id", q.SequenceIDs)
	states := make([]string, len(q.States))
	for i, st := range q.States {
		states[i] = string(st)
	}
	addValues(&f, "state", states)
	addValues(&f, "name", q.Names)
	f.addTime("created_at", q.CreatedAts)
	f.addTime("updated_at", q.UpdatedAts)
	for _, r := range q.LabelSelector {
		f.addLabel(r)
	}
	return f.where(), f.args
}

type filter struct {
	conds []string
	args  []any
}

// where is the filter's WHERE clause, empty when it has no condition.
func (f *filter) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

// param adds arg and returns its placeholder.
func (f *filter) param(arg any) string {
	f.args = append(f.args, arg)
	return "$" + strconv.Itoa(len(f.args))
}

func (f *filter) add(column, op string, arg any) {
	f.conds = append(f.conds, column+op+f.param(arg)+")")
}

func addValues[T any](f *filter, column string, values []T) {
	switch len(values) {
	case 0:
	case 1:
		f.add(column, " = (", values[0])
	default:
		f.add(column, " = ANY(", values)
	}
}

// addTime adds a time filter as ranges an index on column can serve.
func (f *filter) addTime(column string, tf tasklife.TimeFilter) {
	from, to := tf.Bounds()
	if !from.IsZero() {
		f.conds = append(f.conds, column+" >= "+f.param(from))
	}
	if !to.IsZero() {
		f.conds = append(f.conds, column+" < "+f.param(to))
	}
	if len(tf.Equal) == 0 {
		return
	}
	var ors []string
	for _, t := range tf.Equal {
		lo := t.UTC().Truncate(time.Second)
		ors = append(ors, "("+column+" >= "+f.param(lo)+" AND "+column+" < "+f.param(lo.Add(time.Second))+")")
	}
	f.conds = append(f.conds, "("+strings.Join(ors, " OR ")+")")
}

// addLabel adds one label selector requirement. "=" and "in" are
// containment (@>), which the GIN index on labels (jsonb_path_ops) serves;
// "exists" is key existence (?), a filter; the negations are their NOT,
// true for a task without labels (NULL), as Cloud Controller's notin and
// != are.
func (f *filter) addLabel(r tasklife.LabelRequirement) {
	contains := func() string {
		var or []string
		for _, v := range r.Values {
			b, _ := json.Marshal(map[string]string{r.Key: v}) // strings always marshal
			or = append(or, "labels @> "+f.param(string(b))+"::jsonb")
		}
		return strings.Join(or, " OR ")
	}
	switch r.Op {
	case tasklife.LabelEqual, tasklife.LabelIn:
		f.conds = append(f.conds, "("+contains()+")")
	case tasklife.LabelNotEqual, tasklife.LabelNotIn:
		f.conds = append(f.conds, "NOT coalesce("+contains()+", false)")
	case tasklife.LabelExists:
		f.conds = append(f.conds, "labels ? "+f.param(r.Key)+"::text")
	case tasklife.LabelNotExists:
		f.conds = append(f.conds, "NOT coalesce(labels ? "+f.param(r.Key)+"::text, false)")
	default:
		f.conds = append(f.conds, "false") // Normalize refuses other operators
	}
}
