package httpadapter

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tasklife/tasklife"
)

// timeParam maps "created_ats[lt]" to "created_ats": Rack reads a
// bracketed key as a hash, which is how Cloud Controller's clients send a
// relational operator.
func timeParam(k string) string {
	if base, _, ok := strings.Cut(k, "["); ok && strings.HasSuffix(k, "]") &&
		(base == "created_ats" || base == "updated_ats") {
		return base
	}
	return k
}

// ccTimestamp is Cloud Controller's opinionated_iso_8601 (EventsListMessage
// and the list messages that take created_ats): UTC, whole seconds, Z.
var ccTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)

const badTimestamp = "has an invalid timestamp format. Timestamps should be formatted as 'YYYY-MM-DDThh:mm:ssZ'"

// parseTimeFilter reads field ("created_ats") from the query in Cloud
// Controller's two forms: field=t1,t2 (exact seconds) or field[op]=t with
// op one of lt, lte, gt, gte. It copies what it read into filters, for the
// page links, and words its errors as CC's CreatedAtValidator does.
func parseTimeFilter(values url.Values, field string, filters url.Values) (tasklife.TimeFilter, error) {
	var (
		f        tasklife.TimeFilter
		problems []error
	)
	fail := func(reason string) { problems = append(problems, &tasklife.InputError{Field: field, Reason: reason}) }
	parse := func(s string) (time.Time, bool) {
		t, err := time.Parse(time.RFC3339, s)
		if !ccTimestamp.MatchString(s) || err != nil {
			fail(badTimestamp)
			return time.Time{}, false
		}
		return t, true
	}
	for k, vs := range values {
		if timeParam(k) != field || len(vs) == 0 {
			continue
		}
		v := vs[len(vs)-1] // Rack keeps the last
		filters.Set(k, v)
		if k == field {
			for _, s := range strings.Split(v, ",") {
				if t, ok := parse(s); ok {
					f.Equal = append(f.Equal, t)
				}
			}
			continue
		}
		op := strings.TrimSuffix(k[len(field)+1:], "]")
		dst := map[string]*time.Time{"lt": &f.Lt, "lte": &f.Lte, "gt": &f.Gt, "gte": &f.Gte}[op]
		if dst == nil {
			fail("Invalid relational operator: '" + op + "'")
		}
		if strings.Contains(v, ",") {
			fail("only accepts one value when using a relational operator")
			continue
		}
		if t, ok := parse(v); ok && dst != nil {
			*dst = t
		}
	}
	if len(problems) > 0 {
		return tasklife.TimeFilter{}, errors.Join(problems...)
	}
	return f, nil
}
