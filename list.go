package tasklife

import (
	"errors"
	"fmt"
	"strings"
)

// OrderBy is a list ordering field.
type OrderBy string

// List orderings. The zero value is creation order.
const (
	OrderByCreatedAt OrderBy = "created_at"
	OrderByUpdatedAt OrderBy = "updated_at"
)

// Page size limits for List.
const (
	DefaultPerPage = 50
	MaxPerPage     = 5000
)

// MaxFilterValues bounds the values of one list filter (guids, names,
// states, app_guids, sequence_ids). Each value is an index lookup and a
// comparison for every candidate; without a bound one request of 100,000
// names held a list, and the writes behind it, for seconds. A thousand
// guids is about 37 KB of query string, far from any URL limit.
const MaxFilterValues = 1000

// ListQuery selects tasks. Within a filter the values are alternatives; the
// filters combine with AND. A nil or empty filter selects everything.
type ListQuery struct {
	GUIDs    []string
	Names    []string
	States   []State
	AppGUIDs []string
	// SequenceIDs needs exactly one AppGUIDs entry: sequence ids are per app.
	SequenceIDs []int64
	// LabelSelector: every requirement must hold (ParseLabelSelector
	// reads Cloud Foundry's syntax).
	LabelSelector []LabelRequirement
	// CreatedAts and UpdatedAts select by time; the zero value selects all.
	CreatedAts TimeFilter
	UpdatedAts TimeFilter
	// OrderBy defaults to creation order. Ties are broken by creation order,
	// in the same direction.
	OrderBy    OrderBy
	Descending bool
	// Page counts from 1 (0 means 1); PerPage defaults to DefaultPerPage and
	// may be at most MaxPerPage.
	Page    int
	PerPage int
}

// Page is one page of a list.
type Page struct {
	Tasks []*Task
	// TotalResults is how many tasks match the query across all pages.
	TotalResults int
	// Query is the query the store ran: the caller's, with its defaults
	// filled in by Normalize. Page links are built from it.
	Query ListQuery
}

// Normalize returns q with its defaults filled in, as Service.List hands it
// to the store, or every problem with q: *InputError values joined with
// errors.Join, in the order states, page, per_page, order_by, sequence_ids,
// label_selector, then filters with more than MaxFilterValues values.
// Their reasons are Cloud Controller's wording, so that an HTTP adapter can
// say "Per page must be between 1 and 5000" without a rule of its own.
// Normalize is the one place where list defaults and bounds live: stores
// trust a query that passed it.
func (q ListQuery) Normalize() (ListQuery, error) {
	var problems []error
	for _, st := range q.States {
		if !st.Valid() {
			problems = append(problems, &InputError{Field: "states", Reason: "can only be: " + quoted(States())})
			break
		}
	}
	switch {
	case q.Page < 0:
		problems = append(problems, &InputError{Field: "page", Reason: "must be a positive integer"})
	case q.Page == 0:
		q.Page = 1
	}
	switch {
	case q.PerPage < 0:
		problems = append(problems, &InputError{Field: "per_page", Reason: "must be a positive integer"})
	case q.PerPage == 0:
		q.PerPage = DefaultPerPage
	case q.PerPage > MaxPerPage:
		problems = append(problems, &InputError{Field: "per_page", Reason: fmt.Sprintf("must be between 1 and %d", MaxPerPage)})
	}
	switch q.OrderBy {
	case "":
		q.OrderBy = OrderByCreatedAt
	case OrderByCreatedAt, OrderByUpdatedAt:
	default:
		problems = append(problems, &InputError{Field: "order_by", Reason: "can only be: " +
			quoted([]OrderBy{OrderByCreatedAt, OrderByUpdatedAt})})
	}
	if len(q.SequenceIDs) > 0 && len(q.AppGUIDs) != 1 {
		problems = append(problems, &InputError{Field: "sequence_ids", Reason: "needs exactly one app guid"})
	}
	if err := checkSelector(q.LabelSelector); err != nil {
		problems = append(problems, err)
	}
	for _, f := range []struct {
		field string
		n     int
	}{{"guids", len(q.GUIDs)}, {"names", len(q.Names)}, {"states", len(q.States)}, {"app_guids", len(q.AppGUIDs)}, {"sequence_ids", len(q.SequenceIDs)}} {
		if f.n > MaxFilterValues {
			problems = append(problems, &InputError{Field: f.field, Reason: fmt.Sprintf("must have at most %d values", MaxFilterValues)})
		}
	}
	return q, errors.Join(problems...)
}

// quoted lists names as Cloud Controller's messages do: 'A', 'B'.
func quoted[T ~string](names []T) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = "'" + string(n) + "'"
	}
	return strings.Join(parts, ", ")
}
