package httpadapter

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tasklife/tasklife"
)

// Space is the one Cloud Foundry space, and its org, of a host that serves
// app routes with WithApps: fixed configuration, not stored.
type Space struct {
	OrgGUID, OrgName string
	GUID, Name       string
	// CreatedAt is when both came to be, for their JSON.
	CreatedAt time.Time
}

// WithApps serves the Cloud Controller routes a CF client needs to find
// an app by name in a space before it runs tasks, for apps kept in apps,
// all in space:
//
//	POST /v3/apps                        201 (422 for a name taken in the space)
//	GET  /v3/apps                        names, guids, space_guids, organization_guids, order_by, pages
//	GET  /v3/apps/{guid}
//	GET  /v3/organizations[/{guid}]      the one org: names, guids, order_by, pages
//	GET  /v3/spaces[/{guid}]             the one space: names, guids, organization_guids, order_by, pages
//
// Reads need PermRead and creates PermWrite; the Authorizer is asked
// nothing per app. Apps are STOPPED buildpack apps, with links only to
// what the Handler serves. To refuse tasks for apps it does not keep,
// combine it with WithAppExists.
func WithApps(apps tasklife.AppStore, space Space) Option {
	return func(h *Handler) { h.apps, h.space = apps, space }
}

func (h *Handler) handleApps() {
	h.handleFunc("POST /v3/apps", h.createApp)
	h.handleFunc("GET /v3/apps", h.listApps)
	h.handleFunc("GET /v3/apps/{guid}", h.getApp)
	h.handleFunc("GET /v3/organizations", h.listOrgs)
	h.handleFunc("GET /v3/organizations/{guid}", h.getOrg)
	h.handleFunc("GET /v3/spaces", h.listSpaces)
	h.handleFunc("GET /v3/spaces/{guid}", h.getSpace)
}

// errInvalidSpace is Cloud Controller's answer to an app created in a
// space that does not exist or that the caller may not see.
var errInvalidSpace = UnprocessableEntity("Invalid space. Ensure that the space exists and you have access to it.")

// createApp serves POST /v3/apps in AppsController#create's order:
// authenticate, may write, the body (AppCreateMessage), the space, the
// name's uniqueness.
func (h *Handler) createApp(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.AuthenticateToWrite(w, r); !ok {
		return
	}
	a, err := readAppBody(w, r)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	if a.SpaceGUID != h.space.GUID {
		h.WriteError(w, r, errInvalidSpace)
		return
	}
	out, err := h.apps.CreateApp(r.Context(), a)
	if errors.Is(err, tasklife.ErrAppNameTaken) {
		// The cf CLI recognizes this wording: cf create-app then says the
		// app exists and succeeds.
		err = UnprocessableEntity(fmt.Sprintf("App with the name '%s' already exists.", a.Name))
	}
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	h.writeResource(w, http.StatusCreated, h.appJSON(h.BaseURL(r), out))
}

// readAppBody decodes a create body as AppCreateMessage judges it. The
// lifecycle is accepted and not kept: every app here is a buildpack app
// that never stages. Environment variables are refused, not dropped:
// tasks here would not see them.
func readAppBody(w http.ResponseWriter, r *http.Request) (*tasklife.App, error) {
	fields, err := readObject(w, r)
	if err != nil {
		return nil, err
	}
	a := &tasklife.App{}
	var (
		unknown []string
		meta    tasklife.MetadataPatch
		rel     bool
	)
	for _, f := range fields {
		switch f.key {
		case "name":
			err = decodeString(f.value, "Name", &a.Name)
		case "relationships":
			rel = true
			var v struct {
				Space struct {
					Data struct {
						GUID string `json:"guid"`
					} `json:"data"`
				} `json:"space"`
			}
			if json.Unmarshal(f.value, &v) != nil || v.Space.Data.GUID == "" {
				err = UnprocessableEntity("Relationships Space must be structured like this: \"space: {\"data\": {\"guid\": \"valid-guid\"}}\"")
			}
			a.SpaceGUID = v.Space.Data.GUID
		case "lifecycle":
			var v map[string]json.RawMessage
			if json.Unmarshal(f.value, &v) != nil {
				err = UnprocessableEntity("Lifecycle must be an object")
			}
		case "metadata":
			meta, err = decodeMetadata(f.value)
		default:
			unknown = append(unknown, f.key)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(unknown) > 0 {
		return nil, unknownFields("", unknown)
	}
	if a.Name == "" {
		return nil, UnprocessableEntity("Name can't be blank")
	}
	if !rel {
		return nil, UnprocessableEntity("Relationships 'relationships' is not an object")
	}
	if err := tasklife.CheckMetadata(meta); err != nil {
		return nil, err
	}
	a.Labels, a.Annotations = values(meta.Labels), values(meta.Annotations)
	if err := tasklife.CheckApp(a); err != nil {
		return nil, err
	}
	return a, nil
}

// getApp serves GET /v3/apps/{guid}.
func (h *Handler) getApp(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.AuthenticateToRead(w, r); !ok {
		return
	}
	a, err := h.apps.GetApp(r.Context(), r.PathValue("guid"))
	if errors.Is(err, tasklife.ErrNotFound) {
		err = errAppNotFound
	}
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	h.writeResource(w, http.StatusOK, h.appJSON(h.BaseURL(r), a))
}

// appListParams are AppsListMessage's keys that the Handler serves.
var appsListParams = []string{"names", "guids", "space_guids", "organization_guids", "page", "per_page", "order_by"}

// listApps serves GET /v3/apps.
func (h *Handler) listApps(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.AuthenticateToRead(w, r); !ok {
		return
	}
	rq, qerr := parseResourceQuery(r.URL.RawQuery, appsListParams)
	if qerr != nil {
		h.WriteError(w, r, qerr)
		return
	}
	page := &tasklife.AppPage{}
	// Every app is in the one org: a filter without it selects none.
	if rq.parents == nil || contains(rq.parents, h.space.OrgGUID) {
		var err error
		if page, err = h.apps.ListApps(r.Context(), rq.q); err != nil {
			h.WriteError(w, r, err)
			return
		}
	}
	base := h.BaseURL(r)
	resources := make([]any, len(page.Apps))
	for i, a := range page.Apps {
		resources[i] = h.appJSON(base, a)
	}
	h.writeList(w, base+"/v3/apps", rq, page.TotalResults, resources)
}

// wireApp is Cloud Controller's app JSON (AppPresenter).
type wireApp struct {
	GUID      string `json:"guid"`
	Name      string `json:"name"`
	State     string `json:"state"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	Lifecycle struct {
		Type string `json:"type"`
		Data struct {
			Buildpacks []string `json:"buildpacks"`
			Stack      *string  `json:"stack"`
		} `json:"data"`
	} `json:"lifecycle"`
	Relationships struct {
		Space toOne `json:"space"`
	} `json:"relationships"`
	Metadata wireMetadata `json:"metadata"`
	Links    links        `json:"links"`
}

type toOne struct {
	Data *struct {
		GUID string `json:"guid"`
	} `json:"data"`
}

func toGUID(guid string) toOne {
	var t toOne
	t.Data = &struct {
		GUID string `json:"guid"`
	}{guid}
	return t
}

type wireMetadata struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func metadataOf(labels, annotations map[string]string) wireMetadata {
	m := wireMetadata{Labels: labels, Annotations: annotations}
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	return m
}

type links map[string]link

// cfTime is a timestamp as Cloud Controller writes it.
func cfTime(t time.Time) string { return string(appendTime(nil, t)) }

func (h *Handler) appJSON(base string, a *tasklife.App) wireApp {
	self := base + "/v3/apps/" + pathSegment(a.GUID)
	out := wireApp{GUID: a.GUID, Name: a.Name, State: "STOPPED", CreatedAt: cfTime(a.CreatedAt), UpdatedAt: cfTime(a.UpdatedAt),
		Metadata: metadataOf(a.Labels, a.Annotations),
		Links: links{"self": {Href: self}, "space": {Href: base + "/v3/spaces/" + pathSegment(a.SpaceGUID)},
			"tasks": {Href: self + "/tasks"}}}
	out.Lifecycle.Type = "buildpack"
	out.Lifecycle.Data.Buildpacks = []string{}
	out.Relationships.Space = toGUID(a.SpaceGUID)
	return out
}

// writeResource answers with v as JSON.
func (h *Handler) writeResource(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeErrorBody(w, errUnknown)
		return
	}
	writeJSON(w, status, b)
}

// writeList answers with a page of resources at url in CC's envelope.
func (h *Handler) writeList(w http.ResponseWriter, url string, rq resourceQuery, total int, resources []any) {
	b := appendPagination(nil, url, rq.filters, total, rq.q.Page, rq.q.PerPage)
	b = append(b, `},"resources":`...)
	body, err := json.Marshal(resources)
	if err != nil {
		writeErrorBody(w, errUnknown)
		return
	}
	b = append(append(b, body...), '}')
	writeJSON(w, http.StatusOK, b)
}
