package httpadapter

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tasklife/tasklife"
)

// resourceQuery is a parsed app, org or space list query.
type resourceQuery struct {
	// q holds the guids and names filters, space_guids (apps only), the
	// order and the page, normalized.
	q tasklife.AppQuery
	// parents is organization_guids; nil when absent.
	parents []string
	// filters are the filters as the client wrote them, for page links.
	filters url.Values
}

// parseResourceQuery parses the query of an app, org or space list, whose
// parameters are allowed, as parseListQuery does a task list's: every
// problem at once, with Cloud Controller's wording.
func parseResourceQuery(raw string, allowed []string) (resourceQuery, *Error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return resourceQuery{}, BadQueryParameter("The query string is malformed")
	}
	var unknown []string
	for k := range values {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	rq := resourceQuery{filters: url.Values{}}
	last := func(k string) (string, bool) {
		v := values[k]
		if len(v) == 0 || !slices.Contains(allowed, k) {
			return "", false
		}
		return v[len(v)-1], true
	}
	list := func(k string) []string {
		v, ok := last(k)
		if !ok {
			return nil
		}
		rq.filters.Set(k, v)
		return strings.Split(v, ",")
	}
	q := &rq.q
	q.GUIDs, q.Names, q.SpaceGUIDs = list("guids"), list("names"), list("space_guids")
	rq.parents = list("organization_guids")
	q.Page, q.PerPage = positiveInt(last("page")), positiveInt(last("per_page"))
	if v, ok := last("order_by"); ok && v != "" {
		q.OrderBy, q.Descending = parseOrderBy(v)
		rq.filters.Set("order_by", v)
	}
	var problems []error
	if len(rq.parents) > tasklife.MaxFilterValues {
		problems = append(problems, &tasklife.InputError{Field: "organization_guids", Reason: "must have at most 1000 values"})
	}
	nq, err := q.Normalize()
	if qerr := badQuery(allowed, unknown, errors.Join(append(problems, err)...)); qerr != nil {
		return resourceQuery{}, qerr
	}
	rq.q = nq
	return rq, nil
}

// selects reports whether the one org or space, with guid, name and
// parent (its org; "" for the org), passes rq's filters.
func (rq resourceQuery) selects(guid, name, parent string) bool {
	return (rq.q.GUIDs == nil || contains(rq.q.GUIDs, guid)) &&
		(rq.q.Names == nil || contains(rq.q.Names, name)) &&
		(rq.parents == nil || contains(rq.parents, parent))
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

// one serves a list of the one org or space: resource when rq selects it
// and its page is the first.
func (h *Handler) listOne(w http.ResponseWriter, r *http.Request, path string, allowed []string, guid, name, parent string, resource func(base string) any) {
	if _, ok := h.AuthenticateToRead(w, r); !ok {
		return
	}
	rq, qerr := parseResourceQuery(r.URL.RawQuery, allowed)
	if qerr != nil {
		h.WriteError(w, r, qerr)
		return
	}
	base := h.BaseURL(r)
	total, resources := 0, []any{}
	if rq.selects(guid, name, parent) {
		total = 1
		if rq.q.Page == 1 {
			resources = append(resources, resource(base))
		}
	}
	h.writeList(w, base+path, rq, total, resources)
}

// getOne serves GET of the one org or space: 404 "<kind> not found" for
// any other guid.
func (h *Handler) getOne(w http.ResponseWriter, r *http.Request, kind, guid string, resource func(base string) any) {
	if _, ok := h.AuthenticateToRead(w, r); !ok {
		return
	}
	if r.PathValue("guid") != guid {
		h.WriteError(w, r, ResourceNotFound(kind))
		return
	}
	h.writeResource(w, http.StatusOK, resource(h.BaseURL(r)))
}

var (
	orgsListParams   = []string{"names", "guids", "page", "per_page", "order_by"}
	spacesListParams = []string{"names", "guids", "organization_guids", "page", "per_page", "order_by"}
)

func (h *Handler) listOrgs(w http.ResponseWriter, r *http.Request) {
	h.listOne(w, r, "/v3/organizations", orgsListParams, h.space.OrgGUID, h.space.OrgName, "", h.orgJSON)
}

func (h *Handler) getOrg(w http.ResponseWriter, r *http.Request) {
	h.getOne(w, r, "Organization", h.space.OrgGUID, h.orgJSON)
}

func (h *Handler) listSpaces(w http.ResponseWriter, r *http.Request) {
	h.listOne(w, r, "/v3/spaces", spacesListParams, h.space.GUID, h.space.Name, h.space.OrgGUID, h.spaceJSON)
}

func (h *Handler) getSpace(w http.ResponseWriter, r *http.Request) {
	h.getOne(w, r, "Space", h.space.GUID, h.spaceJSON)
}

// wireOrg is Cloud Controller's organization JSON (OrganizationPresenter),
// without a quota: there is none.
type wireOrg struct {
	GUID          string `json:"guid"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
	Name          string `json:"name"`
	Suspended     bool   `json:"suspended"`
	Relationships struct {
		Quota toOne `json:"quota"`
	} `json:"relationships"`
	Metadata wireMetadata `json:"metadata"`
	Links    links        `json:"links"`
}

func (h *Handler) orgJSON(base string) any {
	at := cfTime(h.space.CreatedAt)
	return wireOrg{GUID: h.space.OrgGUID, CreatedAt: at, UpdatedAt: at, Name: h.space.OrgName,
		Metadata: metadataOf(nil, nil),
		Links:    links{"self": {Href: base + "/v3/organizations/" + pathSegment(h.space.OrgGUID)}}}
}

// wireSpace is Cloud Controller's space JSON (SpacePresenter).
type wireSpace struct {
	GUID          string `json:"guid"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
	Name          string `json:"name"`
	Relationships struct {
		Organization toOne `json:"organization"`
		Quota        toOne `json:"quota"`
	} `json:"relationships"`
	Metadata wireMetadata `json:"metadata"`
	Links    links        `json:"links"`
}

func (h *Handler) spaceJSON(base string) any {
	at := cfTime(h.space.CreatedAt)
	s := wireSpace{GUID: h.space.GUID, CreatedAt: at, UpdatedAt: at, Name: h.space.Name,
		Metadata: metadataOf(nil, nil),
		Links: links{"self": {Href: base + "/v3/spaces/" + pathSegment(h.space.GUID)},
			"organization": {Href: base + "/v3/organizations/" + pathSegment(h.space.OrgGUID)}}}
	s.Relationships.Organization = toGUID(h.space.OrgGUID)
	return s
}
