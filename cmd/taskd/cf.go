package main

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// cfFront is what CF clients need besides the task routes: the org and
// space they target, and whether tasks may name apps taskd does not keep.
type cfFront struct {
	org, space string
	// strictApps answers a task for an unknown app 404 "App not found", as
	// Cloud Controller does; otherwise the task registers its app.
	strictApps bool
	created    time.Time // the org's and space's created_at
}

// defaultFront is the front door without flags.
func defaultFront() cfFront {
	return cfFront{org: "taskd", space: "default"}
}

// spaceOf is the org and space, with guids derived from their names, so
// that every instance and every restart gives them the same ones (the cf
// CLI remembers the guids it targets).
func (f cfFront) spaceOf() httpadapter.Space {
	org := uuid.NewSHA1(uuid.NameSpaceURL, []byte("taskd:organization:"+f.org)).String()
	return httpadapter.Space{
		OrgGUID: org, OrgName: f.org,
		GUID:      uuid.NewSHA1(uuid.NameSpaceURL, []byte("taskd:space:"+org+":"+f.space)).String(),
		Name:      f.space,
		CreatedAt: f.created,
	}
}

// appStoreOf is the AppStore behind store, if it keeps apps.
func appStoreOf(store tasklife.Store) tasklife.AppStore {
	if cs, ok := store.(countingStore); ok {
		store = cs.Store
	}
	apps, _ := store.(tasklife.AppStore)
	return apps
}

// appExists is WithAppExists for -strict-apps.
func appExists(apps tasklife.AppStore) func(context.Context, httpadapter.Principal, string) (bool, error) {
	return func(ctx context.Context, _ httpadapter.Principal, guid string) (bool, error) {
		_, err := apps.GetApp(ctx, guid)
		if errors.Is(err, tasklife.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
}

// registerApp keeps taskd's one-step start: a task for an app guid taskd
// has never seen registers that app in space, named after its guid. An app
// whose guid is taken by a name of another app in the space stays
// unregistered; its tasks run all the same.
func registerApp(apps tasklife.AppStore, space string) func(ctx context.Context, guid string) error {
	return func(ctx context.Context, guid string) error {
		_, err := apps.GetApp(ctx, guid)
		if !errors.Is(err, tasklife.ErrNotFound) {
			return err
		}
		_, err = apps.CreateApp(ctx, &tasklife.App{GUID: guid, Name: guid, SpaceGUID: space})
		if errors.Is(err, tasklife.ErrAppExists) || errors.Is(err, tasklife.ErrAppNameTaken) {
			return nil
		}
		return err
	}
}
