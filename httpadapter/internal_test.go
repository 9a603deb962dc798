package httpadapter

import (
	"path"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// goCleanPath is ServeMux's cleanPath: what isCleanPath must agree with.
func goCleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

func FuzzIsCleanPath(f *testing.F) {
	for _, seed := range []string{"", "/", "//", "/a", "/a/", "/a//", "/a/./b", "/a/../b", "/.", "/..", "/a/.", "/a/..", "a", "/.a/..b/", "/a/b/c/"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		require.Equal(t, p != "" && goCleanPath(p) == p, isCleanPath(p), "%q", p)
	})
}

func FuzzAppendTime(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(1462381241), int64(999999999))
	f.Add(int64(-62135596800), int64(0))   // year 1
	f.Add(int64(253402300799), int64(1))   // 9999-12-31T23:59:59
	f.Add(int64(253402300800), int64(0))   // year 10000
	f.Add(int64(-62135596801), int64(5e8)) // year 0
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("", int(sec%50400)))
		require.Equal(t, tm.UTC().Format("2006-01-02T15:04:05Z"), string(appendTime(nil, tm)))
	})
}
