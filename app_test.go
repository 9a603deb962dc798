package tasklife_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

func TestAppQueryNormalize(t *testing.T) {
	t.Parallel()
	q, err := tasklife.AppQuery{}.Normalize()
	require.NoError(t, err)
	require.Equal(t, tasklife.AppQuery{OrderBy: tasklife.OrderByCreatedAt, Page: 1, PerPage: tasklife.DefaultPerPage}, q)

	_, err = tasklife.AppQuery{OrderBy: "state", PerPage: tasklife.MaxPerPage + 1, SpaceGUIDs: make([]string, tasklife.MaxFilterValues+1)}.Normalize()
	var msgs []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		msgs = append(msgs, e.Error())
	}
	require.ErrorIs(t, err, tasklife.ErrInvalidInput)
	s := strings.Join(msgs, "\n")
	require.Contains(t, s, "per_page must be between 1 and 5000")
	require.Contains(t, s, "order_by can only be: 'created_at', 'updated_at', 'name'")
	require.Contains(t, s, "space_guids must have at most 1000 values")
}

func TestCheckApp(t *testing.T) {
	t.Parallel()
	require.NoError(t, tasklife.CheckApp(&tasklife.App{Name: "web", SpaceGUID: "s"}))
	require.ErrorIs(t, tasklife.CheckApp(&tasklife.App{SpaceGUID: "s"}), tasklife.ErrInvalidInput)
	require.ErrorIs(t, tasklife.CheckApp(&tasklife.App{Name: strings.Repeat("x", 256), SpaceGUID: "s"}), tasklife.ErrInvalidInput)
	require.ErrorIs(t, tasklife.CheckApp(&tasklife.App{Name: "web"}), tasklife.ErrInvalidInput)
}
