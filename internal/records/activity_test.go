package records

import (
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/store"
)

func TestField(t *testing.T) {
	for _, tc := range []struct{ detail, key, want string }{
		{"method=card reader=front reason=wrong PIN", "reason", "wrong PIN"},
		{"method=card reader=front reason=wrong PIN", "reader", "front"},
		{"reader=front reason=your access is not valid at this time: ask the property office", "reason", "your access is not valid at this time: ask the property office"},
		{"treason=x", "reason", ""},
		{"alarm=door.held_open after 30s", "alarm", "door.held_open after 30s"},
		{"alarm=door.forced door=main", "alarm", "door.forced"},
		{"", "reason", ""},
	} {
		if got := Field(tc.detail, tc.key); got != tc.want {
			t.Errorf("Field(%q, %q) = %q, want %q", tc.detail, tc.key, got, tc.want)
		}
	}
}

func TestTally(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	seq := uint64(0)
	ev := func(min int, kind store.Kind, actor, subject, outcome, detail string) store.AuditRecord {
		seq++
		var r store.AuditRecord
		r.Seq, r.Time, r.Kind, r.Actor, r.Subject, r.Outcome, r.Detail = seq, t0.Add(time.Duration(min)*time.Minute), kind, actor, subject, outcome, detail
		return r
	}
	tl := NewTally()
	for _, r := range []store.AuditRecord{
		ev(0, store.KindAdmin, "gate", "", "alarm-cleared", "a fallback reader is up again"), // began before the period
		ev(1, store.KindAccess, "gate", "r-1", "granted", "method=face"),
		ev(2, store.KindAccess, "gate", "r-2", "denied", "method=card reader=front reason=your access is not valid at this time: ask the property office"),
		ev(3, store.KindAccess, "gate", "r-3", "denied", "method=card reader=front reason=your access is not valid at this time: ask the property office"),
		ev(4, store.KindAdmin, "gate", "", "alarm", "all fallback readers down: front"),
		ev(5, store.KindAdmin, "system", "", "alarm", "door forced open"),
		ev(6, "alarm", "gate:door", "", "start", "alarm=door.held_open open 30s"),
		ev(7, store.KindAdmin, "gate", "", "alarm-cleared", "a fallback reader is up again"),
		ev(8, "alarm", "gate:door", "", "end", "alarm=door.held_open closed"),
		ev(9, "visitor", "staff:alice", "pass-1", "issued", "uses=1"),
		ev(10, "visitor", "gate", "pass-1", "granted", "method=code"),
		// The door's own (internal/gate/door.go).
		ev(11, store.KindAdmin, "door", "", "alarm", "alarm=forced-open: door forced open: the door opened without a grant or the exit button"),
		ev(12, store.KindAdmin, "door", "", "alarm", "alarm=tamper: tamper input active"),
		ev(13, store.KindAdmin, "door", "", "alarm-cleared", "alarm=forced-open lasted=2m0s: door forced open: the door opened without a grant or the exit button"),
	} {
		tl.Add(r)
	}
	tl.Add(store.AuditRecord{Damaged: "does not decode"})
	a := tl.Activity(store.AuditRange{})
	if a.Entries != 15 || !a.Verified {
		t.Errorf("Entries, Verified = %d, %v, want 15, true", a.Entries, a.Verified)
	}
	counts := map[string]int{}
	for _, c := range a.Counts {
		counts[c.Kind+"/"+c.Outcome] = c.Count
	}
	for k, want := range map[string]int{"access/denied": 2, "access/granted": 1, "visitor/issued": 1, "visitor/granted": 1, "alarm/start": 1, "(damaged)/": 1, "admin/alarm": 4, "admin/alarm-cleared": 3} {
		if counts[k] != want {
			t.Errorf("count %s = %d, want %d (all: %v)", k, counts[k], want, counts)
		}
	}
	if len(a.Reasons) != 1 || a.Reasons[0].Count != 2 || a.Reasons[0].Reason != "your access is not valid at this time: ask the property office" {
		t.Errorf("Reasons = %+v, want the schedule refusal twice", a.Reasons)
	}
	type pair struct {
		name       string
		start, end uint64
	}
	want := []pair{{"a fallback reader is up again", 0, 1}, {"all fallback readers down: front", 5, 8}, {"door forced open", 6, 0}, {"door.held_open", 7, 9}, {"forced-open", 12, 14}, {"tamper", 13, 0}}
	if len(a.Alarms) != len(want) {
		t.Fatalf("Alarms = %+v, want %d", a.Alarms, len(want))
	}
	for i, w := range want {
		got := a.Alarms[i]
		if i >= 4 && got.Name != w.name {
			t.Errorf("alarm %d named %q, want %q", i, got.Name, w.name)
		}
		if got.StartSeq != w.start || got.EndSeq != w.end {
			t.Errorf("alarm %d (%s) = start %d end %d, want %d, %d", i, got.Name, got.StartSeq, got.EndSeq, w.start, w.end)
		}
	}
}

func TestTallyBoundsAlarms(t *testing.T) {
	tl := NewTally()
	for i := range maxAlarms + 10 {
		var r store.AuditRecord
		r.Seq, r.Kind, r.Actor, r.Outcome, r.Detail = uint64(i+1), store.KindAdmin, "gate", "alarm", "PAD"
		tl.Add(r)
	}
	a := tl.Activity(store.AuditRange{})
	if len(a.Alarms) != maxAlarms || a.AlarmsLeftOut != 10 || a.Alarms[0].StartSeq != 11 {
		t.Errorf("%d alarms listed, %d left out, first %d; want %d, 10, 11", len(a.Alarms), a.AlarmsLeftOut, a.Alarms[0].StartSeq, maxAlarms)
	}
}

// TestTallyUnlockEnds: a window ended by a restart counts as ended with
// no length, a window that began before the period counts its whole
// length, and one still open at the end of the period says so. The
// details are the gate's (internal/gate/unlock.go, doorstate.go).
func TestTallyUnlockEnds(t *testing.T) {
	tl := NewTally()
	for i, e := range [][2]string{
		{"locked", "unlock profile=market lasted=1h30m0s: door locked: the window ended"},
		{"unlocked", "unlock profile=market until=2026-11-24T09:00:00Z: door unlocked by schedule until 09:00"},
		{"locked", "unlock profile=market started=2026-11-24T07:00:00Z: ended by a restart (gated stopped inside the window: a power cut or a crash?)"},
		{"unlocked", "unlock profile=market until=2026-11-24T09:00:00Z: door unlocked by schedule until 09:00 (gated started inside the window)"},
		{"locked", "unlock profile=market lasted=45m0s: door locked: the window ended"},
		{"door-error", "unlock profile=market: cannot hold the door unlocked: relay: no answer"},
		{"unlocked", "unlock profile=market until=2026-11-25T09:00:00Z: door unlocked by schedule until 09:00"},
	} {
		var r store.AuditRecord
		r.Seq, r.Kind, r.Actor, r.Outcome, r.Detail = uint64(i+1), store.KindAdmin, "schedule", e[0], e[1]
		tl.Add(r)
	}
	u := tl.Activity(store.AuditRange{}).Unlocks
	if u.Opened != 3 || u.Ended != 3 || u.EndedByRestart != 1 || u.Held.Duration != 2*time.Hour+15*time.Minute || !u.HeldAtEnd {
		t.Errorf("Unlocks = %+v, want 3 opened, 3 ended (1 by a restart), held 2h15m, one held at the end", u)
	}
}

// TestReaderBackEndsReadersDown (red team, 2026-12-02): the gate's "a
// fallback reader is up again" names no alarm, and the PAD alarm ("faces
// refused as photos or screens", actor gate too) never ends. Someone who
// cuts the readers' cables and then tries photos at the camera raises
// both; when a reader is back, the report must end "all fallback readers
// down", not the PAD alarm raised after it.
func TestReaderBackEndsReadersDown(t *testing.T) {
	a := gateAlarms([][2]string{
		{"alarm", "all fallback readers down: front: read /dev/ttyUSB0: EOF"},
		{"alarm", "3 faces refused as photos or screens within 10m0s: someone may be trying to get in with a picture"},
		{"alarm-cleared", "a fallback reader is up again"},
	})
	if len(a.Alarms) != 2 {
		t.Fatalf("Alarms = %+v, want 2", a.Alarms)
	}
	for _, al := range a.Alarms {
		var want uint64
		if strings.HasPrefix(al.Name, "all fallback readers down") {
			want = 3
		}
		if al.EndSeq != want {
			t.Errorf("alarm %q (start %d) ended at %d, want %d", al.Name, al.StartSeq, al.EndSeq, want)
		}
	}
}

// TestPADAlarmEnds: the PAD alarm as the gate now writes it (named
// alarm=presentation-attack, and ended when its 30 minutes are up) pairs
// with its end in the report; a readers-down end between them does not
// take it.
func TestPADAlarmEnds(t *testing.T) {
	a := gateAlarms([][2]string{
		{"alarm", "all fallback readers down: front: read /dev/ttyUSB0: EOF"},
		{"alarm", "alarm=presentation-attack: 3 faces refused as photos or screens within 10m0s: someone may be trying to get in with a picture"},
		{"alarm-cleared", "a fallback reader is up again"},
		{"alarm-cleared", "alarm=presentation-attack lasted=30m0s: 3 faces refused as photos or screens within 10m0s: someone may be trying to get in with a picture"},
	})
	if len(a.Alarms) != 2 {
		t.Fatalf("Alarms = %+v, want 2", a.Alarms)
	}
	for _, al := range a.Alarms {
		want := uint64(3)
		if al.StartSeq == 2 {
			want = 4
		}
		if al.EndSeq != want {
			t.Errorf("alarm %q (start %d) ended at %d, want %d", al.Name, al.StartSeq, al.EndSeq, want)
		}
	}
}

// gateAlarms tallies admin entries of actor gate, one a minute, each an
// outcome and a detail, numbered from 1.
func gateAlarms(entries [][2]string) api.Activity {
	var es [][3]string
	for _, e := range entries {
		es = append(es, [3]string{"gate", e[0], e[1]})
	}
	return adminTally(es)
}

// adminTally tallies admin entries, one a minute, each an actor, an
// outcome and a detail, numbered from 1.
func adminTally(entries [][3]string) api.Activity {
	t0 := time.Date(2026, 12, 2, 21, 0, 0, 0, time.UTC)
	tl := NewTally()
	for i, e := range entries {
		var r store.AuditRecord
		r.Seq, r.Time, r.Kind, r.Actor, r.Outcome, r.Detail = uint64(i+1), t0.Add(time.Duration(i)*time.Minute), store.KindAdmin, e[0], e[1], e[2]
		tl.Add(r)
	}
	return tl.Activity(store.AuditRange{})
}

// TestDaemonAlarmsEndAtTheNextStart: the daemon's own alarms (actor
// system) of a run that ended in a power cut end at the next "started";
// the gate's are left to the gate's own ends.
func TestDaemonAlarmsEndAtTheNextStart(t *testing.T) {
	a := adminTally([][3]string{
		{"system", "started", "gated 1"},
		{"system", "alarm", "the store is damaged: serving card and PIN from a backup"},
		{"gate", "alarm", "alarm=readers-down: all fallback readers down: front: EOF"},
		{"system", "started", "gated 1"},
		{"system", "alarm", "the store is damaged: serving card and PIN from a backup"},
	})
	want := map[uint64]uint64{2: 4, 3: 0, 5: 0} // start -> end
	if len(a.Alarms) != len(want) {
		t.Fatalf("Alarms = %+v, want %d", a.Alarms, len(want))
	}
	for _, al := range a.Alarms {
		if al.EndSeq != want[al.StartSeq] {
			t.Errorf("alarm %q (start %d) ended at %d, want %d", al.Name, al.StartSeq, al.EndSeq, want[al.StartSeq])
		}
	}
}
