// Package osdp is the control-panel (CP) side of OSDP v2.2 (IEC 60839-11-5)
// for card readers and keypads on an RS-485 line: packet framing with
// CRC-16 or checksum, addressing and sequence numbers, the secure channel
// (SCBK, AES-128: session keys, cryptograms, MACs, encryption), the POLL, ID,
// CAP, LED, BUZ and KEYSET commands, and the RAW, FMT and KEYPAD replies that
// carry cards and keys.
//
// Parsers (Frame, Decode, the reply decoders and Session) are pure functions
// over bytes. Reader is the I/O loop: it polls one reader, turns its replies
// into fallback.Events, reports fallback.Health (down after missed replies),
// pairs it with the install key (SCBK-D) and a per-reader key set by
// KEYSET, and reconnects after the line is lost.
//
// This package must never accept a card from a reader configured for the
// secure channel unless the reply carried a valid MAC, never log keys or
// PINs, and never open the door (it only reports what the reader saw).
//
// # Caveats
//
// One Reader drives one reader address on its own serial line; several
// readers on one multi-drop bus are not supported yet. Only the commands
// above are sent: no file transfer, biometrics, OUT or TEXT.
package osdp
