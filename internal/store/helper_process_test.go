package store

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
)

// Tests that need a second process re-run this test binary with helperEnv
// set; TestMain then runs the helper instead of the tests.
const (
	helperEnv     = "GATED_STORE_TEST_HELPER"
	helperPathEnv = "GATED_STORE_TEST_PATH"
	helperKeyEnv  = "GATED_STORE_TEST_KEY"
)

func runHelper(name string) int {
	raw, err := hex.DecodeString(os.Getenv(helperKeyEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: bad key:", err)
		return 2
	}
	kek, err := NewKEK(raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	db, err := Open(os.Getenv(helperPathEnv), kek, Options{PIN: testPIN})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: open:", err)
		return 2
	}
	fmt.Println("ready")
	switch name {
	case "lock":
		// Hold the store open until the parent closes our stdin.
		io.Copy(io.Discard, os.Stdin)
	case "crash":
		crashLoop(db)
	default:
		fmt.Fprintln(os.Stderr, "helper: unknown", name)
		return 2
	}
	if err := db.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "helper: close:", err)
		return 1
	}
	return 0
}

// startHelper starts the helper and waits until it has the store open.
func startHelper(t *testing.T, name, path string, key []byte) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name, helperPathEnv+"="+path, helperKeyEnv+"="+hex.EncodeToString(key))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper %s: first line %q, %v; want \"ready\"", name, line, err)
	}
	go io.Copy(io.Discard, stdout)
	return cmd, stdin
}
