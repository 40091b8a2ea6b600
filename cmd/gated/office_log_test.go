package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// gated office log prints the office's own log, one JSON object a line
// with --json, and checks its chain.
func TestOfficeLog(t *testing.T) {
	root := t.TempDir()
	dir, key := filepath.Join(root, "office"), filepath.Join(root, "kek")
	if _, errs, code := officeRun(t, dir, key, "", "init", "--compound", "greenhill"); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := officeRun(t, dir, key, "", "resident", "add", "--name", "Ada"); code != 0 {
		t.Fatal(errs)
	}
	out, errs, code := officeRun(t, dir, key, "", "log", "--json")
	if code != 0 || !strings.Contains(errs, "2 entries, chain verified") {
		t.Fatalf("office log: exit %d, %q", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("office log --json printed %d lines, want 2:\n%s", len(lines), out)
	}
	var l struct {
		Seq           uint64
		Actor, Action string
	}
	if err := json.Unmarshal([]byte(lines[1]), &l); err != nil || l.Seq != 2 || l.Action != "resident add" || l.Actor != "office:alice" {
		t.Fatalf("second entry = %+v, %v; want seq 2, resident add by office:alice", l, err)
	}
}
