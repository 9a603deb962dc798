package main

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// defaultRunAs is the user a taskd started as root runs its tasks as when
// -run-as does not say: a task running as root could read taskd's memory,
// environment, token file and state directory, and undo every other bound.
const defaultRunAs = "nobody"

// runAs is the user tasks run as.
type runAs struct {
	name string
	uid  uint32
	cred *syscall.Credential // nil: taskd's own user, no switch
	env  []string            // HOME, USER and LOGNAME of that user
}

// String says who tasks run as, for the log.
func (r *runAs) String() string {
	return fmt.Sprintf("%s (uid %d)", r.name, r.uid)
}

// resolveRunAs finds the user -run-as names (a name or a numeric uid) for
// a taskd whose effective uid is euid. An empty name is taskd's own user,
// or defaultRunAs for root. Switching needs root: any other taskd asked to
// run tasks as someone else is refused, rather than run them as itself.
func resolveRunAs(name string, euid int) (*runAs, error) {
	flagged := name != ""
	if !flagged {
		if euid != 0 {
			return &runAs{name: "taskd's own user", uid: uint32(euid)}, nil
		}
		name = defaultRunAs
	}
	u, err := user.Lookup(name)
	if _, isNum := strconv.Atoi(name); err != nil && isNum == nil {
		u, err = user.LookupId(name)
	}
	if err != nil {
		if !flagged {
			return nil, fmt.Errorf("taskd runs as root and would run its tasks as %s, which this system lacks: choose a user with -run-as (-run-as root runs tasks as root)", defaultRunAs)
		}
		return nil, fmt.Errorf("-run-as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("-run-as %s: uid %q or gid %q is not numeric", name, u.Uid, u.Gid)
	}
	r := &runAs{name: u.Username, uid: uint32(uid)}
	if int(uid) == euid {
		return r, nil // Already that user; root keeps its groups.
	}
	if euid != 0 {
		return nil, fmt.Errorf("-run-as %s: taskd runs as uid %d and cannot switch its tasks to uid %d; start taskd as root, or leave -run-as out to run tasks as taskd's user", name, euid, uid)
	}
	var groups []uint32
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("-run-as %s: groups: %w", name, err)
	}
	for _, id := range ids {
		g, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("-run-as %s: group id %q is not numeric", name, id)
		}
		groups = append(groups, uint32(g))
	}
	r.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}
	r.env = []string{"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username}
	return r, nil
}
