package httpadapter

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tasklife/tasklife"
)

// listParams are the query parameters of GET /v3/tasks, in the order Cloud
// Controller names them when it refuses an unknown one.
var listParams = []string{"names", "states", "guids", "app_guids", "page", "per_page", "order_by"}

// appListParams are those of GET /v3/apps/{guid}/tasks.
var appListParams = []string{"names", "states", "guids", "sequence_ids", "page", "per_page", "order_by"}

// listRequest is a parsed list query: what to ask the store, and the
// filters the page links repeat.
type listRequest struct {
	q       tasklife.ListQuery
	filters url.Values
}

// parseListQuery validates a list route's raw query. It collects every
// problem, as Cloud Controller does, and joins them with ", ".
func parseListQuery(raw string, perApp bool) (listRequest, *Error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return listRequest{}, BadQueryParameter("The query string is malformed")
	}
	allowed := listParams
	if perApp {
		allowed = appListParams
	}
	var unknown, problems []string
	for k := range values {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		problems = append(problems, "Unknown query parameter(s): '"+strings.Join(unknown, "', '")+
			"'. Valid parameters are: '"+strings.Join(allowed, "', '")+"'")
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
		if !ok {
			return nil
		}
		lr.filters.Set(k, v)
		return strings.Split(v, ",")
	}
	q.GUIDs = list("guids")
	q.Names = list("names")
	if !perApp {
		q.AppGUIDs = list("app_guids")
	}
	for _, s := range list("states") {
		st := tasklife.State(s)
		if !st.Valid() {
			problems = append(problems, "States can only be: 'PENDING', 'RUNNING', 'CANCELING', 'SUCCEEDED', 'FAILED'")
			break
		}
		q.States = append(q.States, st)
	}
	if perApp {
		for _, s := range list("sequence_ids") {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				problems = append(problems, "Sequence ids must be integers")
				break
			}
			q.SequenceIDs = append(q.SequenceIDs, n)
		}
	}
	if v, ok := last("page"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			problems = append(problems, "Page must be a positive integer")
		}
		q.Page = n
	}
	if v, ok := last("per_page"); ok {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 1:
			problems = append(problems, "Per page must be a positive integer")
		case n > tasklife.MaxPerPage:
			problems = append(problems, "Per page must be between 1 and "+strconv.Itoa(tasklife.MaxPerPage))
		}
		q.PerPage = n
	}
	// An empty order_by is CC's "not present": the default order.
	if v, ok := last("order_by"); ok && v != "" {
		field, desc := v, false
		if field != "" && (field[0] == '+' || field[0] == '-') {
			field, desc = field[1:], field[0] == '-'
		}
		switch tasklife.OrderBy(field) {
		case tasklife.OrderByCreatedAt, tasklife.OrderByUpdatedAt:
			q.OrderBy, q.Descending = tasklife.OrderBy(field), desc
			lr.filters.Set("order_by", v)
		default:
			problems = append(problems, "Order by can only be: 'created_at', 'updated_at'")
		}
	}
	if len(problems) > 0 {
		return listRequest{}, BadQueryParameter(strings.Join(problems, ", "))
	}
	if q.Page == 0 {
		q.Page = 1
	}
	if q.PerPage == 0 {
		q.PerPage = tasklife.DefaultPerPage
	}
	return lr, nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	h.serveList(w, r, "")
}

func (h *Handler) listForApp(w http.ResponseWriter, r *http.Request) {
	h.serveList(w, r, r.PathValue("guid"))
}

// serveList answers both list routes; appGUID is empty for GET /v3/tasks.
func (h *Handler) serveList(w http.ResponseWriter, r *http.Request, appGUID string) {
	p, ok := h.Authenticate(w, r, false)
	if !ok {
		return
	}
	perApp := appGUID != ""
	lr, qerr := parseListQuery(r.URL.RawQuery, perApp)
	if qerr != nil {
		h.WriteError(w, r, qerr)
		return
	}
	ctx := r.Context()
	if perApp {
		if h.appExists != nil {
			exists, err := h.appExists(ctx, p, appGUID)
			if err != nil {
				h.WriteError(w, r, err)
				return
			}
			if !exists {
				h.WriteError(w, r, errAppNotFound)
				return
			}
		}
		lr.q.AppGUIDs = []string{appGUID}
	}
	if s, ok := h.auth.(ListScoper); ok {
		if err := s.ScopeList(ctx, p, &lr.q); err != nil {
			h.WriteError(w, r, err)
			return
		}
	}
	page, err := h.svc.List(ctx, lr.q)
	if err != nil {
		// The query was checked above; what the Service still refuses is a
		// query problem too, not a 422.
		var ie *tasklife.InputError
		if errors.As(err, &ie) {
			err = BadQueryParameter(humanize(ie.Field) + " " + ie.Reason)
		}
		h.WriteError(w, r, err)
		return
	}

	// A ListScoper may have cleared these; the Service then used defaults.
	lr.q.Page = cmp.Or(max(lr.q.Page, 0), 1)
	lr.q.PerPage = cmp.Or(max(lr.q.PerPage, 0), tasklife.DefaultPerPage)
	base := h.presenter.Base(r)
	listPath := "/v3/tasks"
	if perApp {
		listPath = "/v3/apps/" + pathSegment(appGUID) + "/tasks"
	}
	buf := getBuf()
	b := append(*buf, `{"pagination":{"total_results":`...)
	b = strconv.AppendInt(b, int64(page.TotalResults), 10)
	totalPages := max(1, (page.TotalResults+lr.q.PerPage-1)/lr.q.PerPage)
	b = append(b, `,"total_pages":`...)
	b = strconv.AppendInt(b, int64(totalPages), 10)
	link := func(b []byte, n int) []byte {
		b = append(b, `{"href":"`...)
		b = appendEscaped(b, base+listPath+"?"+pageQuery(lr.filters, n, lr.q.PerPage))
		return append(b, `"}`...)
	}
	b = append(b, `,"first":`...)
	b = link(b, 1)
	b = append(b, `,"last":`...)
	b = link(b, totalPages)
	b = append(b, `,"next":`...)
	if lr.q.Page < totalPages {
		b = link(b, lr.q.Page+1)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"previous":`...)
	if lr.q.Page > 1 {
		b = link(b, lr.q.Page-1)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `},"resources":[`...)
	n := 0
	for _, t := range page.Tasks {
		readable, err := h.auth.Authorize(ctx, p, PermReadTask, t)
		secrets := false
		// GET /v3/tasks never shows commands; the per-app list does to
		// those who may read secrets.
		if err == nil && readable && perApp {
			secrets, err = h.auth.Authorize(ctx, p, PermReadSecrets, t)
		}
		if err != nil {
			putBuf(buf)
			h.WriteError(w, r, err)
			return
		}
		if !readable {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = h.presenter.AppendTask(b, base, t, secrets)
		n++
	}
	b = append(b, "]}"...)
	writeJSON(w, http.StatusOK, b)
	*buf = b
	putBuf(buf)
}

// pageQuery is the query of a page link: the filters plus page and
// per_page, keys sorted (url.Values.Encode sorts).
func pageQuery(filters url.Values, page, perPage int) string {
	v := make(url.Values, len(filters)+2)
	for k, vs := range filters {
		v[k] = vs
	}
	v.Set("page", strconv.Itoa(page))
	v.Set("per_page", strconv.Itoa(perPage))
	return v.Encode()
}
