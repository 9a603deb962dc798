package tasklife

import "time"

// TimeFilter selects tasks (or audit events) by a timestamp, as Cloud
// Controller's created_ats and updated_ats do. Times have the API's
// precision, whole seconds (finer parts are ignored), and a second is a
// span: Equal t matches all of second t, Lte t includes it and Gt t
// excludes it, as CC compares. The zero value selects everything; set
// bounds combine with AND, and Equal with them too.
type TimeFilter struct {
	// Equal: the timestamp falls in any of these seconds.
	Equal []time.Time
	// Lt, Lte, Gt, Gte bound the timestamp; a zero time sets no bound.
	Lt, Lte, Gt, Gte time.Time
}

// IsZero reports whether f selects everything.
func (f TimeFilter) IsZero() bool {
	return len(f.Equal) == 0 && f.Lt.IsZero() && f.Lte.IsZero() && f.Gt.IsZero() && f.Gte.IsZero()
}

// Bounds returns the bounds as one half-open range [from, to): a zero
// from or to is no bound. It does not include Equal.
func (f TimeFilter) Bounds() (from, to time.Time) {
	lower := func(t time.Time) {
		if from.IsZero() || t.After(from) {
			from = t
		}
	}
	upper := func(t time.Time) {
		if to.IsZero() || t.Before(to) {
			to = t
		}
	}
	if !f.Gte.IsZero() {
		lower(second(f.Gte))
	}
	if !f.Gt.IsZero() {
		lower(second(f.Gt).Add(time.Second))
	}
	if !f.Lt.IsZero() {
		upper(second(f.Lt))
	}
	if !f.Lte.IsZero() {
		upper(second(f.Lte).Add(time.Second))
	}
	return from, to
}

// second truncates t to its second, in UTC.
func second(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// Match reports whether t passes f.
func (f TimeFilter) Match(t time.Time) bool {
	if f.IsZero() {
		return true
	}
	from, to := f.Bounds()
	if (!from.IsZero() && t.Before(from)) || (!to.IsZero() && !t.Before(to)) {
		return false
	}
	if len(f.Equal) == 0 {
		return true
	}
	s := second(t)
	for _, e := range f.Equal {
		if second(e).Equal(s) {
			return true
		}
	}
	return false
}
