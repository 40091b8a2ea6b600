// Package fallback owns the mandatory non-face ways in: card readers and PIN
// keypads on serial lines. It turns their bytes into Events (a card, a
// submitted PIN, a key press), keeps every reader connected (reopening it
// with backoff after the device disappears) and reports each reader's
// Health, so the daemon knows at all times whether a fallback path is alive.
// NormalizeCardNumber turns a card number as staff type it into the key a
// reader sends for that card. It also pairs each PIN with the card shown
// before it (Pairing); whether
// the PIN is right, and how often a card may try, is the gate's decision.
//
// Readers:
//   - ASCII line readers (most USB/RS-232 125 kHz and 13.56 MHz readers):
//     NewASCIIReader, framing by ParseASCII.
//   - Wiegand-to-serial converters sending the raw 26- or 34-bit frame as
//     hex: NewWiegandReader, decoding and parity by DecodeWiegand.
//   - Serial keypads sending one byte per key: NewKeypadReader. An entry
//     that starts with '#' ('#', digits, '#') is a visitor code (KindCode),
//     never a card's PIN.
//   - Serial QR/barcode scanners sending the decoded text as a line:
//     NewScanReader, framing by ParseScan (KindScan).
//   - OSDP v2.2 readers over RS-485: package fallback/osdp.
//
// Parsers are pure functions over bytes; the I/O loops are separate. Ports
// are opened through an Opener so tests run the same code over real
// pseudo-terminals.
//
// This package must never open the door, never decide on its own that a card
// is valid (only the gate does), never import the store,
// and never put a PIN in a log line, an error or a String method.
//
// # Caveats
//
// A reader that has no heartbeat (ASCII, Wiegand converter, keypad) is Up
// while its device node exists and reads do not fail; a reader whose
// microcontroller hangs with the USB link still up looks alive. OSDP readers
// are polled and go down after missed replies.
package fallback
