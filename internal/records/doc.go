// Package records owns what a property office keeps from the audit log: the
// export formats (CSV that is safe to open in a spreadsheet, JSON lines),
// each ending with what checking the chain found, and the activity summary
// of a period (entries by kind and outcome, the gate's decisions by method
// and outcome, visitor passes issued, used and revoked, scheduled unlock
// windows and how long they held the door, refusal reasons, alarms with
// their start and end) that gated report prints.
//
// It works on entries the store hands it, one at a time, and keeps only
// counts and the alarms of the period: it never holds the whole log. It
// never reads or writes the store, never changes an entry (a CSV cell a
// spreadsheet would take for a formula gets one ' in front, which Uncell
// removes), and never decides whether the chain verifies: the store does.
package records
