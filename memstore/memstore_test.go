package memstore_test

import (
	"testing"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) tasklife.Store { return memstore.New() })
}
