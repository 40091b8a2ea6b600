// Package relay owns the door: the relay that unlocks it and the optional
// door-contact input. A Relay has two states, open and locked, and Halt
// always returns it to locked. Pulse opens for a time and always locks
// again, also when the context is cancelled or a write fails.
// Door.Hold keeps a door unlocked (a scheduled unlock window) through any
// pulses until Door.Release or Door.Halt, which lock it.
//
// Drivers: serial relay boards (the USB "LCUS" boards and any board driven by
// fixed byte commands) through Serial, and Linux GPIO character-device lines
// (ARM boards) through GPIO.
//
// Fail-secure (the default) means the door is locked when the relay is off.
// Fail-safe, for locks that must release on power loss (fire code, maglocks),
// is an explicit choice: the relay is on while locked.
//
// This package must never decide who may enter, never read credentials, and
// never leave the door open when it returns an error it could have avoided:
// every path that opens arranges the lock first.
//
// # What a crash does to the door
//
// Fail-secure wiring locks the door on power loss: a relay board without
// power releases its coil. A crashed process is not a power loss, and does
// not by itself lock anything:
//
//   - Serial boards (LCUS and other byte-command boards) latch: the relay
//     keeps the last command it was sent. A process killed while the relay
//     is on (during a pulse) leaves the door unlocked; the kernel closes the
//     port and the board does not notice. It stays unlocked until someone
//     sends the off command.
//   - GPIO lines are released by the kernel when the process that requested
//     them exits, for any reason; a released line is left in whatever state
//     its GPIO driver defines (many keep driving the last value, some turn
//     the pin into an input whose pull resistor decides). Only the wiring
//     (a pull that holds the relay driver off while the pin is undriven)
//     makes a released line lock.
//
// Hence two rules, kept outside this package: whoever opens a relay commands
// it locked first, before anything else (internal/door.Open; the previous
// process may have died mid-pulse), and the service manager runs a lock
// after every stop of the daemon, a crash or SIGKILL included, and before
// every start: deploy/gated.service runs /usr/lib/gated/gated-lock
// (cmd/gated-lock, a small static `gated relay lock` that reads only
// [relay]) as ExecStopPost= and as its first ExecCondition=. With fail-safe
// wiring the same holds with "locked" meaning "relay on": a crash mid-pulse
// leaves a latching board off, the maglock released.
//
// # Caveats
//
// Serial relay boards do not acknowledge and cannot be asked their state: a
// write that succeeds means the bytes left the port, not that the relay
// moved. GPIO output lines can be read back (StateReader): the kernel reads
// the level from the controller, so a line held at the wrong level shows.
// Neither tells whether the bolt moved; use a door contact to know that.
package relay
