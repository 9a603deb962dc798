package memstore_test

import (
	"context"
	"fmt"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// Tasks get per-app sequence ids; lists filter, order and paginate.
func Example() {
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	for _, name := range []string{"migrate", "seed", "report"} {
		_, _ = svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Name: name, Command: "true"})
	}
	page, _ := svc.List(ctx, tasklife.ListQuery{
		AppGUIDs:   []string{"app-1"},
		Descending: true,
		PerPage:    2,
	})
	fmt.Println("total:", page.TotalResults)
	for _, t := range page.Tasks {
		fmt.Println(t.SequenceID, t.Name, t.State)
	}
	// Output:
	// total: 3
	// 3 report PENDING
	// 2 seed PENDING
}
