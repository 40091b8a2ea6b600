package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newClockedBackupDB opens a store with a backup directory and a clock the
// test sets.
func newClockedBackupDB(t *testing.T, keep int) (*DB, *testClock, KEK) {
	t.Helper()
	dir := t.TempDir()
	kek := mustKEK(t)
	clock := newTestClock()
	opts := testOptions(t)
	opts.Now = clock.Now
	opts.BackupDir = filepath.Join(dir, "backups")
	opts.BackupKeep = keep
	db, err := Open(filepath.Join(dir, "gated.db"), kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, clock, kek
}

func backupNames(t *testing.T, dir string) []string {
	t.Helper()
	list, err := ListBackups(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range list {
		out = append(out, filepath.Base(b.Path))
	}
	return out
}

// TestBackupClockBack replays red team round 2: with BackupKeep backups
// present, the clock goes back 30 minutes (no RTC, fake-hwclock, an
// offline gate). Ordered by name (the wall clock), AutoBackup reported
// success and then pruned the backup it had just taken (its name sorted
// oldest), the "is a backup due" check saw a newest backup in the future
// and stopped firing, and the damaged store was served from a backup
// taken before the revocation. Ordered by generation, the backup after
// the revocation is kept, newest, served and staged; the clock going back
// is reported; a backup is due.
func TestBackupClockBack(t *testing.T) {
	db, clock, kek := newClockedBackupDB(t, 7)
	dir := db.opts.BackupDir
	res, err := db.AddResident("staff:alice", Resident{Name: "Evicted", Unit: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AssignCard("staff:alice", res.ID, "4004"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var before []BackupInfo
	for i := range 7 {
		clock.set(t0.Add(time.Duration(i) * time.Minute))
		info, err := db.AutoBackup(BackupScheduled)
		if err != nil {
			t.Fatal(err)
		}
		if info.ClockBehind != 0 {
			t.Errorf("backup %d: ClockBehind = %v with the clock going forwards, want 0", i, info.ClockBehind)
		}
		before = append(before, info)
	}
	if due, err := db.BackupDue(24 * time.Hour); due || err != nil {
		t.Errorf("BackupDue(24h) a minute after a backup = %v, %v; want false", due, err)
	}

	clock.set(t0.Add(-30 * time.Minute)) // fake-hwclock after a power cut
	if due, err := db.BackupDue(24 * time.Hour); !due || err != nil {
		t.Errorf("BackupDue(24h) with the newest backup 36 min in the future = %v, %v; want true (the clock went back)", due, err)
	}
	if err := db.RevokeCard("staff:alice", res.ID, "4004"); err != nil {
		t.Fatal(err)
	}
	info, err := db.AutoBackup(BackupScheduled)
	if err != nil {
		t.Fatalf("AutoBackup with the clock 30 min back = %v", err)
	}
	if _, err := os.Stat(info.Path); err != nil {
		t.Fatalf("the backup just taken is gone: %v", err)
	}
	if want := before[6].Taken.Sub(info.Taken); info.ClockBehind != want || want < 35*time.Minute {
		t.Errorf("ClockBehind = %v, want %v (the newest backup's time is that far ahead)", info.ClockBehind, want)
	}
	if info.Generation != before[6].Generation+1 {
		t.Errorf("Generation = %d, want %d", info.Generation, before[6].Generation+1)
	}
	names := backupNames(t, dir)
	if len(names) != 7 || names[0] != filepath.Base(info.Path) {
		t.Errorf("ListBackups = %v, want 7 with the one just taken first", names)
	}
	for _, n := range names {
		if n == filepath.Base(before[0].Path) {
			t.Errorf("the oldest backup %s was kept instead of being pruned", n)
		}
	}
	if due, err := db.BackupDue(24 * time.Hour); due || err != nil {
		t.Errorf("BackupDue(24h) right after a backup = %v, %v; want false", due, err)
	}
	// The next backup follows one taken by the same clock: nothing to report.
	next, err := db.AutoBackup(BackupScheduled)
	if err != nil || next.ClockBehind != 0 {
		t.Errorf("AutoBackup after = %+v, %v; want ClockBehind 0", next, err)
	}
	os.Remove(next.Path)

	// The store is damaged: the newest backup is the one after the
	// revocation, whatever the clock said.
	bk, got, err := OpenNewestBackup(dir, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	if got.Path != info.Path {
		t.Errorf("OpenNewestBackup = %s, want %s", filepath.Base(got.Path), filepath.Base(info.Path))
	}
	if id, err := bk.LookupCard("4004"); !errors.Is(err, ErrNotFound) {
		t.Errorf("degraded: revoked card 4004 -> %q, %v; want ErrNotFound", id, err)
	}
	staged, err := StageAutoBackup(filepath.Join(t.TempDir(), "gated.db"), dir, "newest", kek)
	if err != nil || staged.Path != info.Path {
		t.Errorf("StageAutoBackup(newest) = %s, %v; want %s", staged.Path, err, info.Path)
	}
}

// TestBackupOldNames: backups named by the previous version
// (gated-YYYYMMDDTHHMMSS.sssZ.db) are still listed, served and pruned;
// they order below every backup with a generation, by their time among
// themselves, so one named in the future (a clock that was ahead) is
// never served as newest once a new-style backup exists.
func TestBackupOldNames(t *testing.T) {
	db, clock, kek := newClockedBackupDB(t, 3)
	dir := db.opts.BackupDir
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	clock.set(t0)
	if _, err := db.AddResident("staff:a", Resident{Name: "Old", Unit: "1"}); err != nil {
		t.Fatal(err)
	}
	// Three backups as the old version named them, one a year ahead.
	seed, err := db.AutoBackup(BackupScheduled)
	if err != nil {
		t.Fatal(err)
	}
	b := readFile(t, seed.Path)
	os.Remove(seed.Path)
	old := []string{"gated-20261120T090000.000Z.db", "gated-20271123T090000.000Z.db", "gated-20261122T090000.000Z.db"}
	for _, n := range old {
		writeTestFile(t, filepath.Join(dir, n), b)
	}
	list, err := ListBackups(dir)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListBackups = %v, %v", list, err)
	}
	if got := backupNames(t, dir); strings.Join(got, " ") != old[1]+" "+old[2]+" "+old[0] {
		t.Errorf("old-style backups ordered %v, want by time, newest first", got)
	}
	if list[0].Generation != 0 || list[0].Kind != BackupScheduled || !list[0].Taken.Equal(time.Date(2027, 11, 23, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("old-style backup = %+v, want generation 0, scheduled, its time", list[0])
	}
	info, err := db.AutoBackup(BackupScheduled)
	if err != nil {
		t.Fatal(err)
	}
	if info.Generation != 1 {
		t.Errorf("first new-style generation = %d, want 1", info.Generation)
	}
	if want := time.Date(2027, 11, 23, 9, 0, 0, 0, time.UTC).Sub(info.Taken); info.ClockBehind != want {
		t.Errorf("ClockBehind = %v, want %v (an old-style backup carries a later time)", info.ClockBehind, want)
	}
	got := backupNames(t, dir)
	if want := []string{filepath.Base(info.Path), old[1], old[2]}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after one new-style backup, BackupKeep 3: %v, want %v (the oldest old-style pruned)", got, want)
	}
	bk, newest, err := OpenNewestBackup(dir, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	bk.Close()
	if newest.Path != info.Path {
		t.Errorf("OpenNewestBackup = %s, want the new-style %s, not the future-named old one", filepath.Base(newest.Path), filepath.Base(info.Path))
	}
	for range 2 {
		if _, err := db.AutoBackup(BackupScheduled); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range backupNames(t, dir) {
		if !strings.HasPrefix(n, "gated-00000000") {
			t.Errorf("old-style backup %s kept after 3 new-style ones (BackupKeep 3)", n)
		}
	}
}

// TestBackupNames: a backup's name carries its generation, kind and time,
// and parses back to them; other names are not backups.
func TestBackupNames(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 1, 234e6, time.UTC)
	name := backupName(42, BackupScheduled, at)
	if name != "gated-0000000042-scheduled-20261123T090001.234Z.db" {
		t.Errorf("backupName = %s", name)
	}
	for _, tt := range []struct {
		name string
		gen  uint64
		kind BackupKind
		at   time.Time
		ok   bool
	}{
		{name, 42, BackupScheduled, at, true},
		{"gated-0000000007-change-20261123T090001.234Z.db", 7, BackupAfterChange, at, true},
		{"gated-18446744073709551615-change-20261123T090001.234Z.db", 1<<64 - 1, BackupAfterChange, at, true},
		{"gated-20261123T090001.234Z.db", 0, BackupScheduled, at, true},
		{"gated-18446744073709551616-change-20261123T090001.234Z.db", 0, 0, time.Time{}, false}, // overflows
		{"gated-0000000000-scheduled-20261123T090001.234Z.db", 0, 0, time.Time{}, false},        // generation 0 is the old names'
		{"gated-42-scheduled-20261123T090001.234Z.db", 0, 0, time.Time{}, false},                // not padded
		{"gated-00000000042-scheduled-20261123T090001.234Z.db", 0, 0, time.Time{}, false},       // padded twice
		{"gated-0000000042-weekly-20261123T090001.234Z.db", 0, 0, time.Time{}, false},
		{"gated-0000000042-scheduled-20261323T090001.234Z.db", 0, 0, time.Time{}, false}, // month 13
		{"gated-2026.db", 0, 0, time.Time{}, false},
		{".gated-backup-123", 0, 0, time.Time{}, false},
	} {
		gen, kind, taken, ok := parseBackupName(tt.name)
		if ok != tt.ok || gen != tt.gen || kind != tt.kind || !taken.Equal(tt.at) {
			t.Errorf("parseBackupName(%s) = %d, %v, %v, %v; want %d, %v, %v, %v", tt.name, gen, kind, taken, ok, tt.gen, tt.kind, tt.at, tt.ok)
		}
	}
}

// TestBackupRings replays red team round 2: the daemon takes a backup 30 s
// after staff change residents or credentials, and with one ring of
// BackupKeep = 7, seven quick changes pushed the whole week of scheduled
// backups out. Two rings: 7 scheduled and 10 after-change backups leave
// all 7 scheduled and the 3 newest after-change ones; "newest" is the
// newest of either kind.
func TestBackupRings(t *testing.T) {
	db, clock, kek := newClockedBackupDB(t, 7)
	dir := db.opts.BackupDir
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var daily, changes []BackupInfo
	for i := range 7 {
		clock.set(t0.Add(time.Duration(i) * 24 * time.Hour))
		info, err := db.AutoBackup(BackupScheduled)
		if err != nil {
			t.Fatal(err)
		}
		if info.Kind != BackupScheduled || !strings.Contains(filepath.Base(info.Path), "-scheduled-") {
			t.Errorf("scheduled backup = %+v", info)
		}
		daily = append(daily, info)
	}
	res, err := db.AddResident("staff:w", Resident{Name: "Target", Unit: "1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		clock.set(t0.Add(7*24*time.Hour + time.Duration(i)*40*time.Second))
		if _, err := db.UpdateResident("staff:w", Resident{ID: res.ID, Name: "Target", Unit: fmt.Sprint("1-", i), Status: StatusActive}); err != nil {
			t.Fatal(err)
		}
		info, err := db.AutoBackup(BackupAfterChange)
		if err != nil {
			t.Fatal(err)
		}
		if info.Kind != BackupAfterChange || !strings.Contains(filepath.Base(info.Path), "-change-") {
			t.Errorf("after-change backup = %+v", info)
		}
		changes = append(changes, info)
	}
	var want []string
	for i := 9; i >= 7; i-- {
		want = append(want, filepath.Base(changes[i].Path))
	}
	for i := 6; i >= 0; i-- {
		want = append(want, filepath.Base(daily[i].Path))
	}
	if got := backupNames(t, dir); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("backups after 7 scheduled and 10 after-change:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	bk, newest, err := OpenNewestBackup(dir, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	if newest.Path != changes[9].Path {
		t.Errorf("OpenNewestBackup = %s, want the last after-change backup", filepath.Base(newest.Path))
	}
	if r, err := bk.Resident(res.ID); err != nil || r.Unit != "1-9" {
		t.Errorf("newest backup has %+v, %v; want the last change", r, err)
	}
	// A scheduled backup is due by the scheduled ring only.
	clock.set(t0.Add(7*24*time.Hour + time.Hour))
	if due, err := db.BackupDue(24 * time.Hour); !due || err != nil {
		t.Errorf("BackupDue(24h) a day after the last scheduled backup, minutes after a change backup = %v, %v; want true", due, err)
	}
	if _, err := db.AutoBackup(BackupKind(9)); !errors.Is(err, ErrInvalid) {
		t.Errorf("AutoBackup(kind 9) = %v, want ErrInvalid", err)
	}
}
