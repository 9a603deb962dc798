package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPrintedCurlLinesWork(t *testing.T) {
	t.Parallel()
	env := []string{"TASKD_TOKEN="} // unset: taskd generates one
	d := startTaskd(t, env)
	require.Regexp(t, `^token: [0-9a-f]{64} \(generated`, d.banner[1])
	d.token = strings.Fields(d.banner[1])[1]
	d.pasteCurlLines(nil)
}

// TestBannerHidesAGivenToken: a token taskd did not generate is not printed
// (the banner may go to a log); the curl lines read it where it came from.
func TestBannerHidesAGivenToken(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("from-a-file\n"), 0o600))
	for _, tc := range []struct {
		name, token string
		env, args   []string
		shellEnv    []string // the environment the lines are pasted in
	}{
		{name: "environment", token: "test-token", shellEnv: []string{"TASKD_TOKEN=test-token"}},
		{name: "file", token: "from-a-file", env: []string{"TASKD_TOKEN="}, args: []string{"-token-file", file}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := startTaskd(t, tc.env, tc.args...)
			d.token = tc.token
			require.NotContains(t, strings.Join(d.banner, "\n"), tc.token)
			require.Contains(t, d.banner[1], "not printed")
			d.pasteCurlLines(tc.shellEnv)
		})
	}
}

// pasteCurlLines runs the banner's curl lines in a shell with env, as a
// newcomer would paste them: create (and echo the guid), get, cancel.
func (d *taskd) pasteCurlLines(env []string) {
	t := d.t
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	var curl []string
	for _, line := range d.banner {
		if s := strings.TrimSpace(line); strings.HasPrefix(s, "TASK=") || strings.HasPrefix(s, "curl ") {
			curl = append(curl, s)
		}
	}
	require.Len(t, curl, 3, "banner: %q", d.banner)
	sh := exec.Command("/bin/sh", "-c", strings.Join(curl, "\n"))
	sh.Env = append(os.Environ(), append([]string{"TASKD_TOKEN="}, env...)...)
	out, err := sh.CombinedOutput()
	require.NoError(t, err, "%s", out)
	guid, rest, _ := strings.Cut(string(out), "\n")
	require.Regexp(t, `^[0-9a-f-]{36}$`, guid)
	require.Contains(t, rest, `"guid":"`+guid+`"`)
	require.Contains(t, rest, `"state":"CANCELING"`)
	done := d.await(guid, "FAILED", testGrace+time.Second)
	require.Equal(t, "task was cancelled", reason(done))
}
