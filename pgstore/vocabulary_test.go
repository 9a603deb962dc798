package pgstore_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore"
)

// TestSchemaNamesTheDeclaredStates keeps the migrations' literal copies of
// the lifecycle's names (a CHECK constraint cannot call Go) equal to the
// declaration: a state added there and not here fails this test, not a
// write in production.
func TestSchemaNamesTheDeclaredStates(t *testing.T) {
	t.Parallel()
	var want []string
	for _, s := range tasklife.States() {
		want = append(want, "'"+string(s)+"'")
	}
	files, err := fs.Glob(pgstore.Migrations, "migrations/*.sql")
	require.NoError(t, err)
	checks := 0
	for _, f := range files {
		sql, err := fs.ReadFile(pgstore.Migrations, f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`(?i)\bstate\s+IN\s*\(([^)]*)\)`).FindAllSubmatch(sql, -1) {
			checks++
			var got []string
			for _, name := range strings.Split(string(m[1]), ",") {
				got = append(got, strings.TrimSpace(name))
			}
			require.Equal(t, want, got, "%s: a state list", f)
		}
		for _, m := range regexp.MustCompile(`state\s*=\s*'([A-Z]+)'`).FindAllSubmatch(sql, -1) {
			require.True(t, tasklife.State(m[1]).Valid(), "%s names unknown state %s", f, m[1])
		}
	}
	require.NotZero(t, checks, "the migrations constrain state to the declared names")
}
