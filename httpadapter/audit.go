package httpadapter

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tasklife/tasklife"
)

// auditParams are GET /v3/audit_events's query parameters: Cloud
// Controller's EventsListMessage without space_guids and
// organization_guids (tasklife knows no spaces), and without updated_ats
// (an event never changes: it is its created_at).
var auditParams = []string{"types", "target_guids", "created_ats", "page", "per_page", "order_by"}

// hiddenData is what Cloud Controller shows instead of a secret in an
// audit event (TaskEventRepository).
const hiddenData = "PRIVATE DATA HIDDEN"

// auditEventJSON is an audit event in Cloud Controller's v3 shape
// (AuditEventPresenter), the fields in its order. Events have no space
// or organization here, and no link to themselves: there is no route to
// one event.
type auditEventJSON struct {
	GUID         string          `json:"guid"`
	CreatedAt    string          `json:"created_at"`
	UpdatedAt    string          `json:"updated_at"`
	Type         string          `json:"type"`
	Actor        auditRef        `json:"actor"`
	Target       auditRef        `json:"target"`
	Data         auditData       `json:"data"`
	Space        *struct{}       `json:"space"`
	Organization *struct{}       `json:"organization"`
	Links        map[string]link `json:"links"`
}

type link struct {
	Href string `json:"href"`
}

type auditRef struct {
	GUID string `json:"guid"`
	Type string `json:"type"`
	Name string `json:"name"`
}

// auditData is CC's metadata of a task event: the task and its request,
// the command hidden as CC hides it. Reason is tasklife's, when the
// actor gave one.
type auditData struct {
	TaskGUID string       `json:"task_guid"`
	Request  auditRequest `json:"request"`
	Reason   string       `json:"reason,omitempty"`
}

type auditRequest struct {
	Name                 string `json:"name"`
	MemoryInMB           int64  `json:"memory_in_mb"`
	EnvironmentVariables string `json:"environment_variables"`
	Command              string `json:"command"`
}

// auditEvents serves GET /v3/audit_events: authenticate (401), may read
// at all (403), may read audit events (403), the query (400), the page.
func (h *Handler) auditEvents(w http.ResponseWriter, r *http.Request) {
	p, ok := h.AuthenticateToRead(w, r)
	if !ok || !h.authorize(w, r, p, PermReadAuditEvents, nil) {
		return
	}
	q, filters, qerr := parseAuditQuery(r.URL.RawQuery)
	if qerr != nil {
		h.WriteError(w, r, qerr)
		return
	}
	page, err := h.svc.AuditEvents(r.Context(), q)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	base := h.BaseURL(r)
	resources := make([]auditEventJSON, len(page.Events))
	for i, e := range page.Events {
		at := string(appendTime(nil, e.CreatedAt))
		resources[i] = auditEventJSON{
			GUID: e.GUID, CreatedAt: at, UpdatedAt: at, Type: e.Type,
			Actor:  auditRef{GUID: e.Actor.GUID, Type: e.Actor.Type, Name: e.Actor.Name},
			Target: auditRef{GUID: e.TargetGUID, Type: "app"},
			Data: auditData{TaskGUID: e.TaskGUID, Reason: e.Reason, Request: auditRequest{
				Name: e.TaskName, MemoryInMB: e.MemoryInMB, EnvironmentVariables: hiddenData, Command: hiddenData,
			}},
			Links: map[string]link{"target": {Href: base + "/v3/apps/" + pathSegment(e.TargetGUID)}},
		}
	}
	body, err := json.Marshal(resources)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	buf := getBuf()
	b := appendPagination(*buf, base+"/v3/audit_events", filters, page.TotalResults, page.Query.Page, page.Query.PerPage)
	b = append(b, `},"resources":`...)
	b = append(b, body...)
	b = append(b, '}')
	writeJSON(w, http.StatusOK, b)
	*buf = b
	putBuf(buf)
}

// parseAuditQuery reads the audit events query as parseListQuery reads a
// task list's, with the same messages.
func parseAuditQuery(raw string) (tasklife.AuditQuery, url.Values, *Error) {
	var q tasklife.AuditQuery
	values, err := url.ParseQuery(raw)
	if err != nil {
		return q, nil, BadQueryParameter("The query string is malformed")
	}
	var unknown []string
	for k := range values {
		if !slices.Contains(auditParams, timeParam(k)) || timeParam(k) == "updated_ats" {
			unknown = append(unknown, k)
		}
	}
	filters := url.Values{}
	list := func(k string) []string {
		vs := values[k]
		if len(vs) == 0 {
			return nil
		}
		filters.Set(k, vs[len(vs)-1])
		return strings.Split(vs[len(vs)-1], ",")
	}
	q.Types = list("types")
	q.TargetGUIDs = list("target_guids")
	var problems []error
	if q.CreatedAts, err = parseTimeFilter(values, "created_ats", filters); err != nil {
		problems = append(problems, err)
	}
	last := func(k string) (string, bool) {
		vs, ok := values[k]
		if !ok || len(vs) == 0 {
			return "", false
		}
		return vs[len(vs)-1], true
	}
	q.Page = positiveInt(last("page"))
	q.PerPage = positiveInt(last("per_page"))
	if v, ok := last("order_by"); ok && v != "" {
		filters.Set("order_by", v)
		field, desc := v, false
		if len(field) > 1 && (field[0] == '+' || field[0] == '-') {
			field, desc = field[1:], field[0] == '-'
		}
		// Events never change: updated_at is created_at.
		if field != "created_at" && field != "updated_at" {
			problems = append(problems, &tasklife.InputError{Field: "order_by", Reason: "can only be: 'created_at', 'updated_at'"})
		}
		q.Descending = desc
	}
	nq, err := q.Normalize()
	if qerr := badQuery(auditParams, unknown, errors.Join(append(problems, err)...)); qerr != nil {
		return q, nil, qerr
	}
	return nq, filters, nil
}
