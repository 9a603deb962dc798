package pgstore_test

import (
	"testing"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore/pgtest"
	"github.com/tasklife/tasklife/storetest"
)

func TestAppsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunApps(t, func(t *testing.T) tasklife.Store { return pgtest.Store(t) })
}
