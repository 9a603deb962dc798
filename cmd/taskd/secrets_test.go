package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSecretsNeverOnTheCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile, urlFile := filepath.Join(dir, "token"), filepath.Join(dir, "url")
	require.NoError(t, os.WriteFile(tokenFile, []byte("from-file\n"), 0o600))
	require.NoError(t, os.WriteFile(urlFile, []byte("postgres://u:pw@db/x\n"), 0o600))
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		token   string
		url     string
	}{
		{name: "password in the URL flag", args: []string{"-database-url", "postgres://u:pw@db/x"}, wantErr: "-database-url holds a password"},
		{name: "password as a URL parameter", args: []string{"-database-url", "postgresql://db/x?password=pw"}, wantErr: "-database-url holds a password"},
		{name: "password as a keyword", args: []string{"-database-url", "host=db password=pw"}, wantErr: "-database-url holds a password"},
		{name: "no password in the flag", args: []string{"-database-url", "postgres://u@db/x"}, url: "postgres://u@db/x"},
		{name: "password in the environment", env: map[string]string{"DATABASE_URL": "postgres://u:pw@db/x"}, url: "postgres://u:pw@db/x"},
		{name: "URL from a file", args: []string{"-database-url-file", urlFile}, url: "postgres://u:pw@db/x"},
		{name: "URL file and flag", args: []string{"-database-url-file", urlFile, "-database-url", "postgres://db"}, wantErr: "give one"},
		{name: "token from a file", args: []string{"-token-file", tokenFile}, token: "from-file"},
		{name: "token file and variable", args: []string{"-token-file", tokenFile}, env: map[string]string{"TASKD_TOKEN": "t"}, wantErr: "give one"},
		{name: "missing token file", args: []string{"-token-file", filepath.Join(dir, "none")}, wantErr: "-token-file: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.url, cfg.databaseURL)
			if tc.token != "" {
				require.Equal(t, tc.token, cfg.token)
			}
		})
	}
}

// TestTaskCannotReadTaskdsEnvironment: a task running as taskd's user may
// not read the environment taskd started with (TASKD_TOKEN in it) from
// /proc: taskd is undumpable. As root, taskd runs as nobody here, since
// root's tasks may read anything.
func TestTaskCannotReadTaskdsEnvironment(t *testing.T) {
	t.Parallel()
	require.NoError(t, os.Chmod(filepath.Dir(taskdBin), 0o755))
	d := startTaskdAs(t, os.Geteuid() == 0)
	tk := d.create(`if cat /proc/$PPID/environ > /dev/null; then echo environ-readable; fi`)
	d.await(tk.GUID, "SUCCEEDED", 5*time.Second)
	logged := d.log.String()
	require.NotContains(t, logged, "environ-readable")
	require.Contains(t, logged, "Permission denied")
}
