package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
)

// TestContractMatchesTheDeclaration ties the suite's table, written out from
// docs/contract.md, to the lifecycle declared once in internal/lifecycle: if either changes
// alone, this fails, so the property tests check the declared lifecycle.
func TestContractMatchesTheDeclaration(t *testing.T) {
	t.Parallel()
	for _, ev := range tasklife.Events() {
		for _, s := range tasklife.States() {
			wantOutcome, wantState := expect(ev, s)
			gotOutcome, gotState := lifecycle.Decide(string(ev), string(s))
			require.Equal(t, wantOutcome, gotOutcome, "%s on %s", ev, s)
			require.Equal(t, string(wantState), gotState, "%s on %s", ev, s)
		}
	}
}
