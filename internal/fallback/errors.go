package fallback

import "errors"

// Errors that callers branch on. Frame errors are counted as Dropped in
// Health and never become events.
var (
	// ErrFrame: the bytes are not a valid frame for the reader's protocol.
	ErrFrame = errors.New("fallback: bad frame")
	// ErrParity: a Wiegand frame failed its parity check.
	ErrParity = errors.New("fallback: wiegand parity error")
	// ErrGone: the device node vanished or hung up.
	ErrGone = errors.New("fallback: device gone")
	// ErrConfig: a reader's configuration is invalid.
	ErrConfig = errors.New("fallback: bad configuration")
)
