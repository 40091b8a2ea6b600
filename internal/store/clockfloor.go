package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The clock floor is the latest time the store has written an audit entry
// at: a high-water mark of the gate's clock, kept in the settings bucket
// and raised with every entry. A clock set back (an RTC-less board after a
// power cut, a spoofed NTP server, someone at the console) would otherwise
// bring expired visitor passes and access end dates back to life (red
// team, issue 15): their ends are judged at the later of the clock and
// the floor (UsePass; the gate's schedule check). Only ends: a start is
// never brought forward by the floor, so a clock that had jumped ahead
// (entries written in the future) cannot let anyone in early; it only
// ends time-limited credentials early until staff, knowing the clock is
// right again, lower the floor with ResetClockFloor.
const clockFloorKey = storeSettingPrefix + "clock-floor"

// raiseClockFloor sets the floor to t when later. Before schema 1's
// settings bucket exists (migrations), it does nothing.
func raiseClockFloor(tx *bolt.Tx, t time.Time) error {
	b := tx.Bucket(bucketSettings)
	if b == nil {
		return nil
	}
	if cur, ok := decodeClockFloor(b.Get([]byte(clockFloorKey))); ok && !t.After(cur) {
		return nil
	}
	return b.Put([]byte(clockFloorKey), encodeClockFloor(t))
}

func encodeClockFloor(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

func decodeClockFloor(v []byte) (time.Time, bool) {
	if len(v) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), true
}

// clockFloor is the floor in tx (the zero time when none was kept).
func clockFloor(tx *bolt.Tx) time.Time {
	b := tx.Bucket(bucketSettings)
	if b == nil {
		return time.Time{}
	}
	t, _ := decodeClockFloor(b.Get([]byte(clockFloorKey)))
	return t
}

// ClockFloor returns the latest time the store has written an audit entry
// at (the zero time for a store that has none).
func (db *DB) ClockFloor() (time.Time, error) {
	var t time.Time
	err := db.view(func(tx *bolt.Tx) error {
		t = clockFloor(tx)
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("store: clock floor: %w", err)
	}
	return t, nil
}

// ResetClockFloor lowers the floor to the clock's time now, audited with
// the floor it replaces: for staff who know the clock is right again after
// it had jumped ahead.
func (db *DB) ResetClockFloor(actor string) (old time.Time, err error) {
	now, err := db.now()
	if err != nil {
		return time.Time{}, fmt.Errorf("store: reset clock floor: %w", err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		old = clockFloor(tx)
		if err := tx.Bucket(bucketSettings).Put([]byte(clockFloorKey), encodeClockFloor(now)); err != nil {
			return err
		}
		// appendAudit raises the floor to now, where it already is.
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Outcome: "ok",
			Detail: Detail(fmt.Sprintf("clock floor reset from %s to %s", old.Format(time.RFC3339), now.Format(time.RFC3339)))})
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("store: reset clock floor: %w", err)
	}
	return old, nil
}

// laterOf is the later of two times.
func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
