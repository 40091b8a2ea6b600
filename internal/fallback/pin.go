package fallback

import "time"

// Keypad key codes. Serial keypads send ASCII '0'-'9', '*' and '#'; OSDP
// KEYPAD replies send '*' as 0x7F and '#' as 0x0D.
const (
	KeyClear     = '*'
	KeySubmit    = '#'
	osdpKeyClear = 0x7F
	osdpKeyEnter = 0x0D
)

// PINEntry assembles key presses into a PIN: digits accumulate, '#' submits,
// '*' clears, and a pause longer than InterKey between keys clears. It is a
// pure state machine: the caller passes the time of each key.
type PINEntry struct {
	// InterKey is the longest pause between keys; 5 s when 0.
	InterKey time.Duration
	// MaxDigits bounds a PIN; entry is cleared past it. 12 when 0.
	MaxDigits int

	digits []byte
	last   time.Time
	// overflow is set when a digit went past MaxDigits: the rest of that
	// entry is dropped, up to '#', '*' or a pause, so that its tail is
	// never taken as an entry of its own (the last digits of a long PIN
	// as "0#").
	overflow bool
}

// Step is what one key did.
type Step uint8

const (
	StepIgnored   Step = iota // not a keypad key
	StepDigit                 // a digit was added
	StepCleared               // the entry was cleared ('*', overflow or timeout)
	StepSubmitted             // '#' with at least one digit: PIN is set
)

func (p *PINEntry) interKey() time.Duration {
	if p.InterKey <= 0 {
		return 5 * time.Second
	}
	return p.InterKey
}

func (p *PINEntry) maxDigits() int {
	if p.MaxDigits <= 0 {
		return 12
	}
	return p.MaxDigits
}

// Len returns the number of digits entered.
func (p *PINEntry) Len() int { return len(p.digits) }

// Key applies one key pressed at now. On StepSubmitted pin holds the PIN and
// the entry is empty again.
func (p *PINEntry) Key(k byte, now time.Time) (step Step, pin Secret) {
	expired := p.Expire(now)
	switch {
	case k >= '0' && k <= '9' && p.overflow:
		p.last = now
		return StepIgnored, Secret{}
	case k >= '0' && k <= '9':
		if len(p.digits) >= p.maxDigits() {
			p.clear()
			p.overflow, p.last = true, now
			return StepCleared, Secret{}
		}
		p.digits = append(p.digits, k)
		p.last = now
		return StepDigit, Secret{}
	case k == KeyClear || k == osdpKeyClear:
		p.clear()
		return StepCleared, Secret{}
	case (k == KeySubmit || k == osdpKeyEnter) && p.overflow:
		p.overflow = false // the over-long entry ends here, unsubmitted
		return StepCleared, Secret{}
	case k == KeySubmit || k == osdpKeyEnter:
		if len(p.digits) == 0 {
			if expired {
				return StepCleared, Secret{}
			}
			return StepIgnored, Secret{}
		}
		pin = Secret{string(p.digits)}
		p.clear()
		return StepSubmitted, pin
	}
	if expired {
		return StepCleared, Secret{}
	}
	return StepIgnored, Secret{}
}

// Expire clears a pending entry whose last key is older than InterKey and
// reports whether it did.
func (p *PINEntry) Expire(now time.Time) bool {
	if (len(p.digits) > 0 || p.overflow) && now.Sub(p.last) > p.interKey() {
		p.clear()
		return true
	}
	return false
}

func (p *PINEntry) clear() {
	p.overflow = false
	for i := range p.digits {
		p.digits[i] = 0
	}
	p.digits = p.digits[:0]
}
