package control

import (
	"os"
	"testing"
)

// TestRoleRules covers what the real-credential test cannot: the daemon's
// own user when it is not root, and group 0 never being a role group.
func TestRoleRules(t *testing.T) {
	o := Options{StaffGID: 10, WriteGID: 20, AdminGID: 30}
	tests := []struct {
		p      Peer
		self   uint32
		groups []uint32
		opts   Options
		want   Role
	}{
		{Peer{UID: 0, GID: 0}, 1000, nil, o, RoleAdmin},
		{Peer{UID: 1000, GID: 1000}, 1000, nil, o, RoleAdmin}, // the daemon's own user
		{Peer{UID: 1001, GID: 1001}, 1000, nil, o, RoleNone},
		{Peer{UID: 1001, GID: 10}, 1000, nil, o, RoleRead},
		{Peer{UID: 1001, GID: 1001}, 1000, []uint32{30, 10}, o, RoleAdmin},
		{Peer{UID: 1001, GID: 20}, 1000, []uint32{10}, o, RoleWrite},
		{Peer{UID: 1001, GID: 0}, 1000, []uint32{0}, Options{}, RoleNone},
		{Peer{UID: 1001, GID: 10}, 1000, nil, Options{StaffGID: -1, WriteGID: -1, AdminGID: -1}, RoleNone},
	}
	for _, tt := range tests {
		if got := roleOf(tt.p, tt.self, tt.groups, tt.opts); got != tt.want {
			t.Errorf("roleOf(%v, self %d, groups %v, %+v) = %v, want %v", tt.p, tt.self, tt.groups, tt.opts, got, tt.want)
		}
	}
	for r, want := range map[Role]string{RoleNone: "none", RoleRead: "read", RoleWrite: "write", RoleAdmin: "admin", Role(9): "role(9)"} {
		if r.String() != want {
			t.Errorf("Role(%d).String() = %q, want %q", int(r), r.String(), want)
		}
	}
	if !(RoleNone < RoleRead && RoleRead < RoleWrite && RoleWrite < RoleAdmin) {
		t.Errorf("roles are not ordered none < read < write < admin")
	}
}

// TestProcGroupsChecksTheUID: the groups of a pid are believed only while
// that pid still has the peer's uid (a reused pid has another's groups).
func TestProcGroupsChecksTheUID(t *testing.T) {
	me := Peer{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), PID: int32(os.Getpid())}
	if _, err := procGroups(me); err != nil {
		t.Errorf("procGroups(this process) = %v", err)
	}
	other := me
	other.UID++
	if _, err := procGroups(other); err == nil {
		t.Errorf("procGroups(this pid, another uid) = nil error, want the uid mismatch refused")
	}
	if _, err := procGroups(Peer{PID: -5}); err == nil {
		t.Errorf("procGroups(pid -5) = nil error")
	}
}
