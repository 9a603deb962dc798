package tasklife

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// App is a Cloud Foundry app as far as tasks need one: a name in a space,
// that tasks run for (Task.AppGUID).
type App struct {
	GUID      string
	Name      string
	SpaceGUID string
	// Labels and Annotations are the app's metadata.
	Labels      map[string]string
	Annotations map[string]string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// AppStore is an optional interface for a Store that keeps apps too, so
// that a host can serve Cloud Foundry's app routes from the store it keeps
// tasks in. memstore and pgstore implement it; storetest.RunApps is its
// conformance suite. Its error contract is the Store's.
type AppStore interface {
	// CreateApp stores a new app built from a and returns it. A GUID left
	// empty is assigned (a UUID v4); CreatedAt and UpdatedAt are the
	// store's now. An app whose GUID exists already is an error matching
	// ErrAppExists; one whose name exists already in its space (names
	// compare case-insensitively, as Cloud Controller's do) is
	// ErrAppNameTaken. Either way nothing is stored, and of concurrent
	// creates of one GUID or one name in a space at most one succeeds.
	CreateApp(ctx context.Context, a *App) (*App, error)
	// GetApp returns the app with the given GUID, or an error matching
	// ErrNotFound.
	GetApp(ctx context.Context, guid string) (*App, error)
	// ListApps returns the apps q selects, one page of them, and how many
	// match in all. q has passed AppQuery.Normalize.
	ListApps(ctx context.Context, q AppQuery) (*AppPage, error)
}

// Errors of AppStore.CreateApp.
var (
	// ErrAppExists: an app with the GUID exists.
	ErrAppExists = errors.New("tasklife: app exists")
	// ErrAppNameTaken: an app with the name exists in the space.
	ErrAppNameTaken = errors.New("tasklife: app name taken in space")
)

// OrderByName orders apps by name.
const OrderByName OrderBy = "name"

// AppQuery selects apps. Within a filter the values are alternatives; the
// filters combine with AND. A nil filter selects everything.
type AppQuery struct {
	GUIDs      []string
	Names      []string // exact, case-sensitive
	SpaceGUIDs []string
	// OrderBy is OrderByCreatedAt (the default), OrderByUpdatedAt or
	// OrderByName; ties are broken by creation order, in the same
	// direction.
	OrderBy    OrderBy
	Descending bool
	// Page and PerPage as in ListQuery.
	Page    int
	PerPage int
}

// AppPage is one page of apps.
type AppPage struct {
	Apps         []*App
	TotalResults int
}

// Normalize returns q with its defaults filled in, or its problems as
// *InputError values joined, with Cloud Controller's wording, as
// ListQuery.Normalize does.
func (q AppQuery) Normalize() (AppQuery, error) {
	// Pages and the guids and names filters are bounded as tasks' are.
	lq, err := ListQuery{Page: q.Page, PerPage: q.PerPage, GUIDs: q.GUIDs, Names: q.Names}.Normalize()
	problems := []error{err}
	q.Page, q.PerPage = lq.Page, lq.PerPage
	switch q.OrderBy {
	case "":
		q.OrderBy = OrderByCreatedAt
	case OrderByCreatedAt, OrderByUpdatedAt, OrderByName:
	default:
		problems = append(problems, &InputError{Field: "order_by", Reason: "can only be: " +
			quoted([]OrderBy{OrderByCreatedAt, OrderByUpdatedAt, OrderByName})})
	}
	if len(q.SpaceGUIDs) > MaxFilterValues {
		problems = append(problems, &InputError{Field: "space_guids", Reason: fmt.Sprintf("must have at most %d values", MaxFilterValues)})
	}
	return q, errors.Join(problems...)
}

// MaxAppNameBytes bounds an app's name, as Cloud Controller's column does.
const MaxAppNameBytes = 255

// CheckApp reports what is wrong with a as a new app: *InputError values
// joined, or nil.
func CheckApp(a *App) error {
	var problems []error
	switch {
	case a.Name == "":
		problems = append(problems, &InputError{Field: "name", Reason: "can't be blank"})
	case len(a.Name) > MaxAppNameBytes:
		problems = append(problems, &InputError{Field: "name", Reason: fmt.Sprintf("is too long (maximum is %d characters)", MaxAppNameBytes)})
	}
	if a.SpaceGUID == "" {
		problems = append(problems, &InputError{Field: "space_guid", Reason: "can't be blank"})
	}
	return errors.Join(problems...)
}
