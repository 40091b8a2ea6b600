// Package relay owns the door: the relay that unlocks it and the optional
// door-contact input. A Relay has two states, open and locked, and Halt
// always returns it to locked. Pulse opens for a time and always locks
// again, also when the context is cancelled or a write fails.
//
// Drivers: serial relay boards (the USB "LCUS" boards and any board driven by
// fixed byte commands) through Serial, and Linux GPIO character-device lines
// (ARM boards) through GPIO.
//
// Fail-secure (the default) means the door is locked when the relay is off:
// power loss or a crashed process leaves it locked. Fail-safe, for locks that
// must release on power loss (fire code, maglocks), is an explicit choice:
// the relay is on while locked.
//
// This package must never decide who may enter, never read credentials, and
// never leave the door open when it returns an error it could have avoided:
// every path that opens arranges the lock first.
//
// # Caveats
//
// Serial relay boards do not acknowledge: a write that succeeds means the
// bytes left the port, not that the relay moved. Use a door contact to know.
package relay
