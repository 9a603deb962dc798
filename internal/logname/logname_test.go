package logname

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestShort(t *testing.T) {
	t.Parallel()
	require.Equal(t, "short", Short("short"))
	exact := strings.Repeat("a", Max)
	require.Equal(t, exact, Short(exact))
	long := strings.Repeat("a", Max-1) + "日本語"
	got := Short(long)
	require.True(t, utf8.ValidString(got), "cut on a rune boundary: %q", got)
	require.Equal(t, strings.Repeat("a", Max-1)+"…", got)
}
