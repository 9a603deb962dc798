package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// secretFiles names files to read the token and the database URL from:
// what is on taskd's command line, every process on the host can read in
// /proc/<pid>/cmdline, tasks included.
type secretFiles struct {
	token       string
	databaseURL string
}

func (s *secretFiles) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.token, "token-file", "", "`file` holding the bearer token, instead of $"+tokenEnv)
	fs.StringVar(&s.databaseURL, "database-url-file", "", "`file` holding the PostgreSQL URL, instead of $"+databaseURLEnv+"; use it, or the variable, for a URL with a password")
}

// load reads the files named into c, before the environment is looked at.
// A -database-url with a password is refused: the command line is public.
func (s *secretFiles) load(c *config, getenv func(string) string) error {
	if c.databaseURL != "" && hasPassword(c.databaseURL) {
		return fmt.Errorf("-database-url holds a password, which any process can read on taskd's command line: use $%s or -database-url-file", databaseURLEnv)
	}
	if s.databaseURL != "" {
		if c.databaseURL != "" {
			return errors.New("-database-url and -database-url-file: give one")
		}
		b, err := os.ReadFile(s.databaseURL)
		if err != nil {
			return fmt.Errorf("-database-url-file: %w", err)
		}
		c.databaseURL = strings.TrimSpace(string(b))
	}
	if s.token != "" {
		if getenv(tokenEnv) != "" {
			return fmt.Errorf("-token-file and $%s: give one", tokenEnv)
		}
		b, err := os.ReadFile(s.token)
		if err != nil {
			return fmt.Errorf("-token-file: %w", err)
		}
		if c.token = strings.TrimSpace(string(b)); c.token == "" {
			return errors.New("-token-file is empty")
		}
	}
	return nil
}

// keywordPassword finds a password in a keyword/value connection string.
var keywordPassword = regexp.MustCompile(`(^|\s)password\s*=`)

// hasPassword reports whether a PostgreSQL URL or keyword/value string
// carries a password.
func hasPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	return keywordPassword.MatchString(dsn)
}

// hideSecrets removes the token and the database URL from taskd's
// environment (tasks get theirs from taskEnv, which leaves them out anyway)
// and makes taskd undumpable: another process of its user, a task
// included, may then not read its memory, /proc/<pid>/environ (where the
// environment taskd started with stays) or attach a debugger. A task that
// runs as root can still; see the README.
func hideSecrets() error {
	_ = os.Unsetenv(tokenEnv)
	_ = os.Unsetenv(databaseURLEnv)
	return makeUndumpable()
}
