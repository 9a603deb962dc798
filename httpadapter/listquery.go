package httpadapter

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tasklife/tasklife"
)

// listParams are the query parameters of GET /v3/tasks, in the order Cloud
// Controller names them when it refuses an unknown one, and reports the
// problems of the known ones.
var listParams = []string{"names", "states", "guids", "app_guids", "label_selector", "created_ats", "updated_ats", "page", "per_page", "order_by"}

// appListParams are those of GET /v3/apps/{guid}/tasks.
var appListParams = []string{"names", "states", "guids", "sequence_ids", "label_selector", "created_ats", "updated_ats", "page", "per_page", "order_by"}

// listRequest is a parsed list query: what to ask the store, and the
// filters, as the client wrote them, that the page links repeat.
type listRequest struct {
	q       tasklife.ListQuery
	filters url.Values
}

// parseListQuery turns a list route's raw query into a normalised
// tasklife.ListQuery; appGUID is the app of the per-app list, empty for GET
// /v3/tasks. It checks only syntax (unknown parameters, values that are not
// integers, order_by's sign) and leaves every default, bound and allowed
// value to ListQuery.Normalize, whose reasons are Cloud Controller's. Like
// Cloud Controller it reports every problem at once: unknown parameters
// first, then the others in parameter order, joined with ", ".
func parseListQuery(raw, appGUID string) (listRequest, *Error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return listRequest{}, BadQueryParameter("The query string is malformed")
	}
	allowed := listParams
	if appGUID != "" {
		allowed = appListParams
	}
	var unknown []string
	for k := range values {
		if !slices.Contains(allowed, timeParam(k)) {
			unknown = append(unknown, k)
		}
	}

	// Rack keeps the last of repeated keys; so does this.
	last := func(k string) (string, bool) {
		v, ok := values[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[len(v)-1], true
	}
	lr := listRequest{filters: url.Values{}}
	q := &lr.q
	list := func(k string) []string {
		v, ok := last(k)
		if !ok || !slices.Contains(allowed, k) {
			return nil
		}
		lr.filters.Set(k, v)
		return strings.Split(v, ",")
	}
	var syntax []error // what Normalize cannot see: values that are no integers
	q.GUIDs = list("guids")
	q.Names = list("names")
	q.AppGUIDs = list("app_guids")
	if appGUID != "" {
		q.AppGUIDs = []string{appGUID}
	}
	for _, s := range list("states") {
		q.States = append(q.States, tasklife.State(s))
	}
	for _, s := range list("sequence_ids") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			syntax = append(syntax, &tasklife.InputError{Field: "sequence_ids", Reason: "must be integers"})
			q.SequenceIDs = nil
			break
		}
		q.SequenceIDs = append(q.SequenceIDs, n)
	}
	if v, ok := last("label_selector"); ok {
		lr.filters.Set("label_selector", v)
		reqs, err := tasklife.ParseLabelSelector(v)
		if err != nil {
			syntax = append(syntax, err)
		}
		q.LabelSelector = reqs
	}
	if q.CreatedAts, err = parseTimeFilter(values, "created_ats", lr.filters); err != nil {
		syntax = append(syntax, err)
	}
	if q.UpdatedAts, err = parseTimeFilter(values, "updated_ats", lr.filters); err != nil {
		syntax = append(syntax, err)
	}
	q.Page = positiveInt(last("page"))
	q.PerPage = positiveInt(last("per_page"))
	// An empty order_by is CC's "not present": the default order.
	if v, ok := last("order_by"); ok && v != "" {
		q.OrderBy, q.Descending = parseOrderBy(v)
		lr.filters.Set("order_by", v)
	}

	nq, err := q.Normalize()
	if qerr := badQuery(allowed, unknown, errors.Join(append(syntax, err)...)); qerr != nil {
		return listRequest{}, qerr
	}
	lr.q = nq
	return lr, nil
}

// parseOrderBy splits an order_by value into its field and direction. A
// sign alone is no sign: "-" stays a field Normalize refuses.
func parseOrderBy(v string) (tasklife.OrderBy, bool) {
	if len(v) > 1 && (v[0] == '+' || v[0] == '-') {
		return tasklife.OrderBy(v[1:]), v[0] == '-'
	}
	return tasklife.OrderBy(v), false
}

// badQuery is the 400 for a list query's problems: the unknown parameters
// first, then every *tasklife.InputError in err, in the order of allowed.
// It is nil when there is no problem.
func badQuery(allowed, unknown []string, err error) *Error {
	var msgs []string
	if len(unknown) > 0 {
		slices.Sort(unknown)
		msgs = append(msgs, "Unknown query parameter(s): '"+strings.Join(unknown, "', '")+
			"'. Valid parameters are: '"+strings.Join(allowed, "', '")+"'")
	}
	problems := inputProblems(err)
	slices.SortStableFunc(problems, func(a, b *tasklife.InputError) int {
		return slices.Index(allowed, a.Field) - slices.Index(allowed, b.Field)
	})
	for _, p := range problems {
		msgs = append(msgs, inputMessage(p))
	}
	if len(msgs) == 0 {
		return nil
	}
	return BadQueryParameter(strings.Join(msgs, ", "))
}

// positiveInt maps a page or per_page parameter to what Normalize expects:
// 0 when absent (the default), -1 when present but no positive integer
// (which Normalize reports as "must be a positive integer").
func positiveInt(v string, present bool) int {
	if !present {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return -1
	}
	return n
}

// inputProblems returns every *tasklife.InputError in err, in order:
// Normalize joins one per problem with errors.Join.
func inputProblems(err error) []*tasklife.InputError {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*tasklife.InputError
		for _, e := range j.Unwrap() {
			out = append(out, inputProblems(e)...)
		}
		return out
	}
	var ie *tasklife.InputError
	if errors.As(err, &ie) {
		return []*tasklife.InputError{ie}
	}
	return nil
}
