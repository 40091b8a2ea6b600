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
//
// An entry that starts with '#' is a visitor code, not a PIN: '#', the
// digits, '#' (StepCode). A PIN never starts with '#' (a '#' with no
// digits submits nothing), so a code is never taken for a card's PIN nor
// a PIN for a code.
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
	code     bool // the entry started with '#': a visitor code
}

// Step is what one key did.
type Step uint8

const (
	StepIgnored   Step = iota // not a keypad key
	StepDigit                 // a digit was added
	StepCleared               // the entry was cleared ('*', overflow or timeout)
	StepSubmitted             // '#' with at least one digit: PIN is set
	StepCode                  // '#' ended an entry started with '#': a visitor code
)

// maxCodeDigits bounds a visitor code entry.
const maxCodeDigits = 16

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
		if len(p.digits) >= p.maxDigits() && (!p.code || len(p.digits) >= maxCodeDigits) {
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
			if expired || p.code {
				p.clear() // "##": nothing
				return StepCleared, Secret{}
			}
			p.code, p.last = true, now // a visitor code follows
			return StepDigit, Secret{}
		}
		pin = Secret{string(p.digits)}
		step = StepSubmitted
		if p.code {
			step = StepCode
		}
		p.clear()
		return step, pin
	}
	if expired {
		return StepCleared, Secret{}
	}
	return StepIgnored, Secret{}
}

// Expire clears a pending entry whose last key is older than InterKey and
// reports whether it did.
func (p *PINEntry) Expire(now time.Time) bool {
	if (len(p.digits) > 0 || p.overflow || p.code) && now.Sub(p.last) > p.interKey() {
		p.clear()
		return true
	}
	return false
}

func (p *PINEntry) clear() {
	p.overflow, p.code = false, false
	for i := range p.digits {
		p.digits[i] = 0
	}
	p.digits = p.digits[:0]
}
