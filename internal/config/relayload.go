package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// LoadRelay reads only the [relay] section of the configuration file at
// path and checks it with the rules Load applies to it. It is for locking
// the door when the rest of the file may be broken (gated-lock, run by
// systemd after the daemon stopped, perhaps because of that file, and
// `gated relay lock`):
// unknown keys and bad values in other sections do not matter, and a TOML
// syntax error in another section does not either, as long as the [relay]
// and [relay.contact] tables read on their own. Unknown keys inside [relay]
// are errors, as in Load: a misspelt channel must not lock the wrong relay.
func LoadRelay(path string) (Relay, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Relay{}, fmt.Errorf("config: %w", err)
	}
	return ParseRelay(path, b)
}

// ParseRelay is LoadRelay on the file's bytes; path names them in errors.
func ParseRelay(path string, b []byte) (Relay, error) {
	r, err := decodeRelay(path, b)
	var se syntaxError
	if errors.As(err, &se) {
		// The file does not parse: read the relay's tables on their own.
		var err2 error
		if r, err2 = decodeRelay(path, relayTables(b)); err2 != nil {
			return Relay{}, fmt.Errorf("%w: %s: %v; [relay] read on its own: %v", ErrInvalid, path, err, err2)
		}
	} else if err != nil {
		return Relay{}, fmt.Errorf("%w:\n%w", ErrInvalid, err)
	}
	c := &Config{Relay: r, path: path}
	if errs := c.checkRelay(); len(errs) > 0 {
		return Relay{}, fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(errs...))
	}
	return r, nil
}

// decodeRelay decodes the relay table of b over the defaults; an unknown
// key under relay is an error, any other key is ignored.
func decodeRelay(path string, b []byte) (Relay, error) {
	var doc struct {
		Relay Relay `toml:"relay"`
	}
	doc.Relay = Default().Relay
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Relay{}, syntaxError{line: pe.Position.Line, msg: pe.Message}
		}
		return Relay{}, fmt.Errorf("%s: %v", path, err)
	}
	var errs []error
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] == "relay" {
			errs = append(errs, fieldErr(path, k.String(), "unknown setting", "check its spelling against configs/gated.toml"))
		}
	}
	return doc.Relay, errors.Join(errs...)
}

// syntaxError: the bytes are not TOML.
type syntaxError struct {
	line int
	msg  string
}

func (e syntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// relayTables keeps the lines of the [relay] and [relay.contact] tables of
// a TOML file and blanks every other line, so line numbers stay true. It
// reads table headers only; it is used when the file as a whole does not
// parse.
func relayTables(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	in := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			h := t
			if j := strings.IndexByte(h, '#'); j >= 0 {
				h = strings.TrimSpace(h[:j])
			}
			h = strings.Join(strings.Fields(h), "")
			in = h == "[relay]" || h == "[relay.contact]"
		}
		if !in {
			lines[i] = ""
		}
	}
	return []byte(strings.Join(lines, "\n"))
}
