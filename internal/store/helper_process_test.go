package store

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Tests that need a second process re-run this test binary with helperEnv
// set; TestMain then runs the helper instead of the tests.
const (
	helperEnv         = "GATED_STORE_TEST_HELPER"
	helperPathEnv     = "GATED_STORE_TEST_PATH"
	helperKeyEnv      = "GATED_STORE_TEST_KEY"
	helperBackupEnv   = "GATED_STORE_TEST_BACKUPS"
	helperStepEnv     = "GATED_STORE_TEST_STEP"
	helperResidentEnv = "GATED_STORE_TEST_RESIDENT"
	helperManifestEnv = "GATED_STORE_TEST_MANIFEST"
)

// Exit codes of the sweep helper.
const (
	sweepOpened  = 10 // opened, every resident, card and PIN of the manifest works
	sweepRefused = 11 // refused with ErrCorrupt and a description
	sweepBad     = 12 // anything else: a wrong error, or an opened store that lost data
)

func helperKEK() (KEK, error) {
	raw, err := hex.DecodeString(os.Getenv(helperKeyEnv))
	if err != nil {
		return KEK{}, err
	}
	return NewKEK(raw)
}

func runHelper(name string) int {
	kek, err := helperKEK()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: bad key:", err)
		return 2
	}
	switch name {
	case "sweep":
		return sweepHelper(kek)
	case "sweep-many":
		return sweepManyHelper(kek)
	}
	opts := Options{PIN: testPIN, BackupDir: os.Getenv(helperBackupEnv)}
	db, err := Open(os.Getenv(helperPathEnv), kek, opts)
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
	case "destroy":
		// Stop at the named step of DestroyFaceData, say so, and wait for
		// the parent's SIGKILL.
		stop := func() {
			fmt.Println("at " + os.Getenv(helperStepEnv))
			time.Sleep(time.Hour)
		}
		switch os.Getenv(helperStepEnv) {
		case "committed":
			db.afterDestroyCommit = stop
		case "compacting":
			db.afterCopy = stop
		case "scrubbing":
			db.scrubAfterCopy = stop
		default:
			fmt.Fprintln(os.Stderr, "helper: unknown step", os.Getenv(helperStepEnv))
			return 2
		}
		_, err := db.DestroyFaceData("staff:desk", os.Getenv(helperResidentEnv), "opted out")
		fmt.Fprintln(os.Stderr, "helper: DestroyFaceData returned without stopping:", err)
		return 1
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

// sweepHelper opens a damaged copy of a store and reports, by exit code
// and one line on stdout, whether it opened with everything in the
// manifest usable or was refused with ErrCorrupt. A panic or fault that
// recover cannot catch kills the process, which the parent sees.
func sweepHelper(kek KEK) int {
	m, err := readManifest(os.Getenv(helperManifestEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	code, msg := sweepOne(os.Getenv(helperPathEnv), kek, m)
	fmt.Println(msg)
	return code
}

// sweepManyHelper is sweepHelper for each file listed (one per line) in
// the file at helperPathEnv: it prints "start N" before and "result N
// CODE MESSAGE" after each, so the parent knows which file a crash hit.
func sweepManyHelper(kek KEK) int {
	m, err := readManifest(os.Getenv(helperManifestEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	list, err := os.ReadFile(os.Getenv(helperPathEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	for i, path := range strings.Fields(string(list)) {
		fmt.Printf("start %d\n", i)
		code, msg := sweepOne(path, kek, m)
		fmt.Printf("result %d %d %s\n", i, code, strings.ReplaceAll(msg, "\n", " "))
	}
	return 0
}

func sweepOne(path string, kek KEK, m manifest) (int, string) {
	db, err := Open(path, kek, Options{PIN: testPIN})
	if err != nil {
		if errors.Is(err, ErrCorrupt) && strings.Contains(err.Error(), "damaged: ") {
			return sweepRefused, "refused: " + err.Error()
		}
		return sweepBad, "wrong error: " + err.Error()
	}
	defer db.Close()
	if err := m.check(db); err != nil {
		return sweepBad, "opened but: " + err.Error()
	}
	return sweepOpened, "opened: every resident, card and PIN works"
}

// startHelper starts the helper and waits until it has the store open.
// The rest of its output is discarded.
func startHelper(t *testing.T, name, path string, key []byte) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd, stdin, out := startHelperEnv(t, name, path, key)
	go io.Copy(io.Discard, out)
	return cmd, stdin
}

// startHelperEnv starts the helper with extra environment variables and
// waits until it has the store open; the caller reads the rest of its
// output.
func startHelperEnv(t *testing.T, name, path string, key []byte, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name, helperPathEnv+"="+path, helperKeyEnv+"="+hex.EncodeToString(key))
	cmd.Env = append(cmd.Env, env...)
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
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper %s: first line %q, %v; want \"ready\"", name, line, err)
	}
	return cmd, stdin, out
}
