package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/office"
	"github.com/gated-dev/gated/internal/retention"
)

// Defaults of gated office: the office PC's store and key.
const (
	defaultOfficeDir      = "/var/lib/gated-office"
	defaultOfficeKey      = "/etc/gated-office/kek"
	defaultOfficeHolidays = "/etc/gated-office/holidays.txt"
)

// officeFlags are the flags before an office subcommand.
type officeFlags struct {
	dir, key string
}

func runOffice(e *env, args []string) error {
	fs := newFlags(e, "office", "[--dir DIR] [--key FILE] init|key|resident|card|pin|visitor|schedule|gate|optout|publish|collect|report ...")
	var of officeFlags
	fs.StringVar(&of.dir, "dir", defaultOfficeDir, "the office store's directory")
	fs.StringVar(&of.key, "key", defaultOfficeKey, "the office key file (0600; gated office init makes it)")
	if err := parse(fs, args); err != nil {
		return err
	}
	with := func(f func(*env, officeFlags, []string) error) func(*env, []string) error {
		return func(e *env, a []string) error { return f(e, of, a) }
	}
	return sub(e, "office", fs.Args(), map[string]func(*env, []string) error{
		"init":     with(officeInit),
		"key":      with(officeKey),
		"log":      with(officeLog),
		"resident": with(officeResident),
		"card":     with(officeCard),
		"pin":      with(officePIN),
		"visitor":  with(officeVisitor),
		"schedule": with(officeSchedule),
		"gate":     with(officeGate),
		"optout":   with(officeOptOut),
		"publish":  with(officePublish),
		"collect":  with(officeCollect),
		"report":   with(officeReport),
	})
}

// officeActor names who acts in the office log.
func officeActor(e *env) string {
	for _, v := range []string{"SUDO_USER", "USER"} {
		if u := e.getenv(v); u != "" {
			return "office:" + u
		}
	}
	if u, err := user.Current(); err == nil {
		return "office:" + u.Username
	}
	return "office:uid" + strconv.Itoa(os.Getuid())
}

func openOffice(of officeFlags) (*office.Office, error) {
	if _, err := os.Lstat(of.key); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no office key file at %s: run gated office init --compound NAME first, or give --key FILE", of.key)
	}
	k, err := office.LoadKEKFile(of.key)
	if err != nil {
		return nil, err
	}
	return office.Open(of.dir, k, office.Options{})
}

// withOffice runs f on the open store.
func withOffice(of officeFlags, f func(o *office.Office) error) error {
	o, err := openOffice(of)
	if err != nil {
		return err
	}
	ferr := f(o)
	if err := o.Close(); ferr == nil {
		ferr = err
	}
	return ferr
}

func officeInit(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office init", "--compound NAME")
	compound := fs.String("compound", "", "the compound's name (lower-case letters, digits, - and _), the same on every gate")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	if *compound == "" {
		return usageError{"--compound is required"}
	}
	k, err := office.LoadKEKFile(of.key)
	made := false
	if errors.Is(err, os.ErrNotExist) || (err != nil && isNotExist(of.key)) {
		k, err = office.GenerateKEKFile(of.key)
		made = true
	}
	if err != nil {
		return err
	}
	o, err := office.Init(of.dir, k, *compound, office.Options{})
	if err != nil {
		return err
	}
	defer o.Close()
	w := e.stdout
	fmt.Fprintf(w, "office store for compound %s created in %s\n", o.Compound(), of.dir)
	if made {
		fmt.Fprintf(w, "key file %s created (0600): keep a copy offline; without it the store cannot be opened\n", of.key)
	}
	fmt.Fprintf(w, "\noffice public key: %s\nfingerprint:       %s\n\non each gate: gated compound join --office %s --compound %s --gate NAME\n",
		o.PublicKey(), o.PublicKey().Fingerprint(), o.PublicKey(), o.Compound())
	return nil
}

func isNotExist(p string) bool {
	_, err := os.Lstat(p)
	return errors.Is(err, os.ErrNotExist)
}

func officeKey(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office key", "")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	return withOffice(of, func(o *office.Office) error {
		fmt.Fprintf(e.stdout, "compound %s\noffice public key: %s\nfingerprint:       %s\n", o.Compound(), o.PublicKey(), o.PublicKey().Fingerprint())
		return nil
	})
}

// officeLog prints the office's own log (every change, publish, collect
// and rechain, hash-chained), after checking its chain.
func officeLog(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office log", "[--from N] [--json]")
	from := fs.Uint64("from", 1, "the first entry")
	asJSON := fs.Bool("json", false, "print JSON lines for scripts and records")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	return withOffice(of, func(o *office.Office) error {
		n, verr := o.VerifyLog()
		ls, err := o.Log(*from)
		if err != nil {
			return err
		}
		for _, l := range ls {
			if *asJSON {
				if err := enc.Encode(l); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(e.stdout, "%6d %s %-16s %-16s %s %s\n", l.Seq, l.Time.Local().Format("2006-01-02 15:04:05"), l.Actor, l.Action, orDash(l.Subject), l.Detail)
		}
		if verr != nil {
			return fmt.Errorf("the office log does not verify after %d entries: %w", n, verr)
		}
		fmt.Fprintf(e.stderr, "office log: %d entries, chain verified\n", n)
		return nil
	})
}

// parseGates reads --gates: "all" (or empty) for every gate, else a,b.
func parseGates(s string) []string {
	if s == "" || s == "all" {
		return nil
	}
	var out []string
	for _, g := range strings.Split(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}

func officeResident(e *env, of officeFlags, args []string) error {
	return sub(e, "office resident", args, map[string]func(*env, []string) error{
		"add":    func(e *env, a []string) error { return officeResidentAdd(e, of, a) },
		"set":    func(e *env, a []string) error { return officeResidentSet(e, of, a) },
		"list":   func(e *env, a []string) error { return officeResidentList(e, of, a) },
		"remove": func(e *env, a []string) error { return officeResidentRemove(e, of, a) },
	})
}

// residentFlags are the flags of resident add and set; each is applied
// only when given.
type residentFlags struct {
	name, unit, guardian, profile, group, gates, from, until, minor optString
}

func addResidentFlags(fs *flag.FlagSet) *residentFlags {
	var f residentFlags
	fs.Var(&f.name, "name", "display name")
	fs.Var(&f.unit, "unit", "flat or house number")
	fs.Var(&f.minor, "minor", "true if the resident is under 14")
	fs.Var(&f.guardian, "guardian", "the guardian's resident ID (for a minor)")
	fs.Var(&f.from, "valid-from", "access starts (2026-11-01, 2026-11-01 08:00 or RFC 3339; empty: no start)")
	fs.Var(&f.until, "valid-until", "access ends (a date alone: the end of that day; empty: no end)")
	fs.Var(&f.profile, "profile", "a weekly time profile (gated office schedule profile set)")
	fs.Var(&f.group, "group", "a group, whose profile applies")
	fs.Var(&f.gates, "gates", "all, or the gates it applies to: main,car")
	return &f
}

func (f *residentFlags) update() (office.ResidentUpdate, error) {
	var u office.ResidentUpdate
	u.Name, u.Unit, u.Guardian, u.Profile, u.Group = f.name.v, f.unit.v, f.guardian.v, f.profile.v, f.group.v
	if f.minor.v != nil {
		b := *f.minor.v == "true"
		if !b && *f.minor.v != "false" {
			return u, usageError{"--minor: use true or false"}
		}
		u.Minor = &b
	}
	for _, x := range []struct {
		s   *string
		end bool
		dst **time.Time
		nm  string
	}{{f.from.v, false, &u.ValidFrom, "--valid-from"}, {f.until.v, true, &u.ValidUntil, "--valid-until"}} {
		if x.s == nil {
			continue
		}
		t, err := parseWhen(*x.s, x.end)
		if err != nil {
			return u, usageError{x.nm + " " + err.Error()}
		}
		*x.dst = &t
	}
	if f.gates.v != nil {
		g := parseGates(*f.gates.v)
		u.Gates = &g
	}
	return u, nil
}

func officeResidentAdd(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office resident add", "--name NAME [--unit UNIT] [--minor=true --guardian ID] [--valid-from WHEN] [--valid-until WHEN] [--profile P] [--group G] [--gates all|a,b]")
	rf := addResidentFlags(fs)
	if _, err := positional(fs, args); err != nil {
		return err
	}
	u, err := rf.update()
	if err != nil {
		return err
	}
	if u.Name == nil {
		return usageError{"--name is required"}
	}
	n := office.NewResident{Name: *u.Name}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	n.Unit, n.Guardian, n.Profile, n.Group = deref(u.Unit), deref(u.Guardian), deref(u.Profile), deref(u.Group)
	if u.Minor != nil {
		n.Minor = *u.Minor
	}
	if u.ValidFrom != nil {
		n.ValidFrom = *u.ValidFrom
	}
	if u.ValidUntil != nil {
		n.ValidUntil = *u.ValidUntil
	}
	if u.Gates != nil {
		n.Gates = *u.Gates
	}
	return withOffice(of, func(o *office.Office) error {
		r, err := o.AddResident(officeActor(e), n)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added %s: %s, unit %s, gates %s (publish to send it)\n", r.ID, r.Name, orDash(r.Unit), gatesWord(r.Gates))
		return nil
	})
}

func gatesWord(g []string) string {
	if len(g) == 0 {
		return "all"
	}
	return strings.Join(g, ",")
}

func officeResidentSet(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office resident set", "ID [--name NAME] [--unit UNIT] [--minor=true|false] [--guardian ID] [--valid-from WHEN] [--valid-until WHEN] [--profile P] [--group G] [--gates all|a,b]")
	rf := addResidentFlags(fs)
	pos, err := positional(fs, args, "ID")
	if err != nil {
		return err
	}
	u, err := rf.update()
	if err != nil {
		return err
	}
	if u == (office.ResidentUpdate{}) {
		return usageError{"nothing to change"}
	}
	return withOffice(of, func(o *office.Office) error {
		r, err := o.UpdateResident(officeActor(e), pos[0], u)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "updated %s: %s, unit %s, gates %s (publish to send it)\n", r.ID, r.Name, orDash(r.Unit), gatesWord(r.Gates))
		return nil
	})
}

func officeResidentList(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office resident list", "[--json]")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	return withOffice(of, func(o *office.Office) error {
		rs, err := o.Residents()
		if err != nil {
			return err
		}
		if *asJSON {
			for i := range rs {
				rs[i].PIN = nil
			}
			return writeJSON(e.stdout, rs)
		}
		var rows [][]string
		for _, r := range rs {
			_, cards, err := o.Resident(r.ID)
			if err != nil {
				return err
			}
			var cs []string
			for _, c := range cards {
				cs = append(cs, "…"+c.Last2)
			}
			rows = append(rows, []string{r.ID, strings.ReplaceAll(r.Name, " ", "_"), orDash(r.Unit), gatesWord(r.Gates), orDash(strings.Join(cs, ",")),
				yesno(r.PIN != nil), yesno(r.Minor), orDash(r.Profile + r.Group)})
		}
		table(e.stdout, "ID NAME UNIT GATES CARDS PIN MINOR SCHEDULE", rows)
		return nil
	})
}

func officeResidentRemove(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office resident remove", "ID --reason TEXT")
	reason := fs.String("reason", "", "why (kept in the erasure order)")
	pos, err := positional(fs, args, "ID")
	if err != nil {
		return err
	}
	if *reason == "" {
		return usageError{"--reason is required"}
	}
	return withOffice(of, func(o *office.Office) error {
		er, err := o.RemoveResident(officeActor(e), pos[0], *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed %s with their cards and PIN; erasure %s orders their face data destroyed at %s (publish to send it)\n",
			pos[0], er.ID, gatesWord(er.Targets))
		return nil
	})
}

func officeCard(e *env, of officeFlags, args []string) error {
	return sub(e, "office card", args, map[string]func(*env, []string) error{
		"add": func(e *env, args []string) error {
			fs := newFlags(e, "office card add", "ID NUMBER [--valid-from WHEN] [--valid-until WHEN]")
			fromS := fs.String("valid-from", "", "the card works from")
			untilS := fs.String("valid-until", "", "the card works until (a date alone: the end of that day)")
			pos, err := positional(fs, args, "ID", "NUMBER")
			if err != nil {
				return err
			}
			from, until, err := parsePeriod(*fromS, *untilS)
			if err != nil {
				return usageError{err.Error()}
			}
			return withOffice(of, func(o *office.Office) error {
				c, err := o.AddCard(officeActor(e), pos[0], pos[1], from, until)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "card ending %s added for %s (only its token is kept; publish to send it)\n", c.Last2, c.Resident)
				return nil
			})
		},
		"revoke": func(e *env, args []string) error {
			fs := newFlags(e, "office card revoke", "NUMBER")
			pos, err := positional(fs, args, "NUMBER")
			if err != nil {
				return err
			}
			return withOffice(of, func(o *office.Office) error {
				c, err := o.RevokeCard(officeActor(e), pos[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "card ending %s of %s revoked (publish to send it)\n", c.Last2, c.Resident)
				return nil
			})
		},
	})
}

func officePIN(e *env, of officeFlags, args []string) error {
	return sub(e, "office pin", args, map[string]func(*env, []string) error{
		"set": func(e *env, args []string) error {
			fs := newFlags(e, "office pin set", "ID  (the PIN is read from standard input)")
			pos, err := positional(fs, args, "ID")
			if err != nil {
				return err
			}
			pin, err := readSecretLine(e)
			if err != nil {
				return err
			}
			return withOffice(of, func(o *office.Office) error {
				if err := o.SetPIN(officeActor(e), pos[0], pin); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "PIN set for %s (publish to send it)\n", pos[0])
				return nil
			})
		},
		"clear": func(e *env, args []string) error {
			fs := newFlags(e, "office pin clear", "ID")
			pos, err := positional(fs, args, "ID")
			if err != nil {
				return err
			}
			return withOffice(of, func(o *office.Office) error {
				if err := o.ClearPIN(officeActor(e), pos[0]); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "PIN removed for %s (publish to send it)\n", pos[0])
				return nil
			})
		},
	})
}

func officeVisitor(e *env, of officeFlags, args []string) error {
	return sub(e, "office visitor", args, map[string]func(*env, []string) error{
		"add": func(e *env, args []string) error {
			fs := newFlags(e, "office visitor add", "--name NAME (--valid 2h | --from TIME --until TIME) [--uses N] [--gates all|a,b]")
			name := fs.String("name", "", "who the pass is for")
			valid := fs.Duration("valid", 0, "valid from now for this long, e.g. 2h")
			fromS := fs.String("from", "", "valid from (2006-01-02 15:04, local time)")
			untilS := fs.String("until", "", "valid until")
			uses := fs.Int("uses", 1, "how many times the pass opens a door, at each gate")
			gates := fs.String("gates", "all", "all, or the gates it opens: main,car")
			if _, err := positional(fs, args); err != nil {
				return err
			}
			if *name == "" {
				return usageError{"--name is required"}
			}
			p := office.NewPass{Name: *name, Uses: *uses, Gates: parseGates(*gates)}
			switch {
			case *valid > 0 && *fromS == "" && *untilS == "":
				p.From = time.Now()
				p.Until = p.From.Add(*valid)
			case *valid == 0 && *untilS != "":
				u, err := parseWhen(*untilS, true)
				if err != nil {
					return usageError{"--until " + err.Error()}
				}
				f := time.Now()
				if *fromS != "" {
					if f, err = parseWhen(*fromS, false); err != nil {
						return usageError{"--from " + err.Error()}
					}
				}
				p.From, p.Until = f, u
			default:
				return usageError{"give --valid DURATION, or --until TIME (with --from TIME for a later start)"}
			}
			return withOffice(of, func(o *office.Office) error {
				out, err := o.AddPass(officeActor(e), p)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "pass %s for %s: %s at each gate (%s), valid %s to %s\n\ncode (shown once, never stored in clear): %s\nat the keypad, without a card, type:  # %s #\n\npublish to send it to the gates\n",
					out.ID, out.Name, plural(out.Uses, "use"), gatesWord(out.Gates), out.From.Local().Format("2006-01-02 15:04"),
					out.Until.Local().Format("2006-01-02 15:04"), out.Code, out.Code)
				return nil
			})
		},
		"list": func(e *env, args []string) error {
			fs := newFlags(e, "office visitor list", "[--json]")
			asJSON := fs.Bool("json", false, "print JSON for scripts")
			if _, err := positional(fs, args); err != nil {
				return err
			}
			return withOffice(of, func(o *office.Office) error {
				ps, err := o.Passes()
				if err != nil {
					return err
				}
				if *asJSON {
					return writeJSON(e.stdout, ps)
				}
				var rows [][]string
				now := time.Now()
				for _, p := range ps {
					state := "valid"
					switch {
					case p.Revoked:
						state = "revoked"
					case !now.Before(p.Until):
						state = "expired"
					case now.Before(p.From):
						state = "not_yet_valid"
					}
					rows = append(rows, []string{p.ID, strings.ReplaceAll(p.Name, " ", "_"), state, strconv.Itoa(p.Uses),
						p.From.Local().Format("2006-01-02_15:04"), p.Until.Local().Format("2006-01-02_15:04"), gatesWord(p.Gates), p.Issuer})
				}
				table(e.stdout, "ID NAME STATE USES FROM UNTIL GATES ISSUER", rows)
				return nil
			})
		},
		"revoke": func(e *env, args []string) error {
			fs := newFlags(e, "office visitor revoke", "ID")
			pos, err := positional(fs, args, "ID")
			if err != nil {
				return err
			}
			return withOffice(of, func(o *office.Office) error {
				if err := o.RevokePass(officeActor(e), pos[0]); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "revoked %s (publish to send it)\n", pos[0])
				return nil
			})
		},
	})
}

func officeSchedule(e *env, of officeFlags, args []string) error {
	return sub(e, "office schedule", args, map[string]func(*env, []string) error{
		"profile": func(e *env, args []string) error {
			return sub(e, "office schedule profile", args, map[string]func(*env, []string) error{
				"set": func(e *env, args []string) error {
					fs := newFlags(e, "office schedule profile set", "NAME WINDOW...  (e.g. workdays 08:00-18:00)")
					if err := parse(fs, args); err != nil {
						return err
					}
					if fs.NArg() < 2 {
						return usageError{"want NAME and at least one WINDOW"}
					}
					return withOffice(of, func(o *office.Office) error {
						if err := o.SetProfile(officeActor(e), fs.Arg(0), fs.Args()[1:]); err != nil {
							return err
						}
						fmt.Fprintf(e.stdout, "profile %s set (publish to send it)\n", fs.Arg(0))
						return nil
					})
				},
				"remove": func(e *env, args []string) error {
					fs := newFlags(e, "office schedule profile remove", "NAME")
					pos, err := positional(fs, args, "NAME")
					if err != nil {
						return err
					}
					return withOffice(of, func(o *office.Office) error { return o.RemoveProfile(officeActor(e), pos[0]) })
				},
			})
		},
		"group": func(e *env, args []string) error {
			return sub(e, "office schedule group", args, map[string]func(*env, []string) error{
				"set": func(e *env, args []string) error {
					fs := newFlags(e, "office schedule group set", "NAME PROFILE")
					pos, err := positional(fs, args, "NAME", "PROFILE")
					if err != nil {
						return err
					}
					return withOffice(of, func(o *office.Office) error {
						if err := o.SetGroup(officeActor(e), pos[0], pos[1]); err != nil {
							return err
						}
						fmt.Fprintf(e.stdout, "group %s follows profile %s (publish to send it)\n", pos[0], pos[1])
						return nil
					})
				},
				"remove": func(e *env, args []string) error {
					fs := newFlags(e, "office schedule group remove", "NAME")
					pos, err := positional(fs, args, "NAME")
					if err != nil {
						return err
					}
					return withOffice(of, func(o *office.Office) error { return o.RemoveGroup(officeActor(e), pos[0]) })
				},
			})
		},
	})
}

func officeGate(e *env, of officeFlags, args []string) error {
	return sub(e, "office gate", args, map[string]func(*env, []string) error{
		"add": func(e *env, args []string) error {
			fs := newFlags(e, "office gate add", "NAME KEY  (the key gated compound join printed on the gate)")
			pos, err := positional(fs, args, "NAME", "KEY")
			if err != nil {
				return err
			}
			k, err := bundle.ParsePublicKey(pos[1])
			if err != nil {
				return err
			}
			return withOffice(of, func(o *office.Office) error {
				if err := o.AddGate(officeActor(e), pos[0], k); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "gate %s added, key fingerprint %s: compare it with the one the gate shows\n", pos[0], k.Fingerprint())
				return nil
			})
		},
		"rechain": func(e *env, args []string) error {
			fs := newFlags(e, "office gate rechain", "NAME --reason TEXT  (after the gate was restored from a backup: accept its audit chain afresh)")
			reason := fs.String("reason", "", `why, e.g. "restored from its backup of 1 Nov after a disk fault"`)
			pos, err := positional(fs, args, "NAME")
			if err != nil {
				return err
			}
			if *reason == "" {
				return usageError{"--reason is required"}
			}
			return withOffice(of, func(o *office.Office) error {
				n, err := o.Rechain(officeActor(e), pos[0], *reason)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "gate %s: %d audit entries kept as an archived chain; its chain is collected afresh from its next event bundle (publish, so the gate learns the office holds nothing of it)\n", pos[0], n)
				return nil
			})
		},
		"list": func(e *env, args []string) error {
			fs := newFlags(e, "office gate list", "[--json]")
			asJSON := fs.Bool("json", false, "print JSON for scripts")
			if _, err := positional(fs, args); err != nil {
				return err
			}
			return withOffice(of, func(o *office.Office) error {
				gs, err := o.Gates()
				if err != nil {
					return err
				}
				if *asJSON {
					return writeJSON(e.stdout, gs)
				}
				var rows [][]string
				for _, g := range gs {
					fp := "?"
					if k, err := g.PublicKey(); err == nil {
						fp = k.Fingerprint()
					}
					rows = append(rows, []string{g.Name, fp, strconv.FormatUint(g.Published, 10), strconv.FormatUint(g.Applied, 10), strings.ReplaceAll(when(g.CollectedAt), " ", "_")})
				}
				table(e.stdout, "GATE FINGERPRINT PUBLISHED APPLIED LAST_COLLECTED", rows)
				return nil
			})
		},
	})
}

func officeOptOut(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office optout", "RESIDENT --reason TEXT [--requested WHEN]")
	reason := fs.String("reason", "", "why (kept in the order)")
	reqS := fs.String("requested", "", "when the person asked (default: now; the 15-working-day limit runs from it)")
	pos, err := positional(fs, args, "RESIDENT")
	if err != nil {
		return err
	}
	if *reason == "" {
		return usageError{"--reason is required"}
	}
	req, err := parseWhen(*reqS, false)
	if err != nil {
		return usageError{"--requested " + err.Error()}
	}
	return withOffice(of, func(o *office.Office) error {
		er, err := o.OptOut(officeActor(e), pos[0], *reason, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "erasure %s: %s's face data is to be destroyed at %s; publish to send the order, collect to see the receipts\n",
			er.ID, pos[0], gatesWord(er.Targets))
		return nil
	})
}

func officePublish(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office publish", "--outbox DIR [--snapshot] [--gate NAME] [--json]")
	outbox := fs.String("outbox", "", "write <outbox>/<gate>/records-<seq>.gbundle (a USB stick, or the folder Syncthing sends)")
	snapshot := fs.Bool("snapshot", false, "a full snapshot even where a delta would do")
	gate := fs.String("gate", "", "only this gate")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	if *outbox == "" {
		return usageError{"--outbox is required"}
	}
	opt := office.PublishOptions{Snapshot: *snapshot}
	if *gate != "" {
		opt.Gates = []string{*gate}
	}
	return withOffice(of, func(o *office.Office) error {
		ps, err := o.Publish(officeActor(e), *outbox, opt)
		if *asJSON {
			if jerr := writeJSON(e.stdout, ps); err == nil {
				err = jerr
			}
			return err
		}
		for _, p := range ps {
			switch {
			case p.UpToDate:
				fmt.Fprintf(e.stdout, "%s: up to date, nothing written\n", p.Gate)
			default:
				kind := "snapshot"
				if p.Base != 0 {
					kind = fmt.Sprintf("delta against %d", p.Base)
				}
				fmt.Fprintf(e.stdout, "%s: records %d, %s, %d bytes: %d residents, %d cards, %d passes, %d removals, %d erasure orders -> %s\n",
					p.Gate, p.Seq, kind, p.Bytes, p.Residents, p.Cards, p.Passes, p.Removals, p.Erase, p.File)
			}
		}
		return err
	})
}

func officeCollect(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office collect", "--dir DIR [--json]")
	dir := fs.String("dir", "", "read <dir>/<gate>/*.gevents (a USB stick, or the folder Syncthing receives)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{"--dir is required"}
	}
	return withOffice(of, func(o *office.Office) error {
		rep, err := o.Collect(officeActor(e), *dir)
		if *asJSON {
			if jerr := writeJSON(e.stdout, rep); err == nil {
				err = jerr
			}
		} else {
			for _, f := range rep.Files {
				name := filepath.Base(f.File)
				switch {
				case f.Replay:
					fmt.Fprintf(e.stdout, "%s %s: already collected\n", f.Gate, name)
				case f.Error != "":
					fmt.Fprintf(e.stdout, "%s %s: REFUSED: %s\n", f.Gate, name, f.Error)
				default:
					fmt.Fprintf(e.stdout, "%s %s: %d audit entries, %d receipts, %d opt-outs; applied records %d\n", f.Gate, name, f.Audit, f.Receipts, f.OptOuts, f.Applied)
				}
			}
			for _, u := range rep.Unknown {
				fmt.Fprintf(e.stdout, "%s: no such gate (gated office gate add), skipped\n", u)
			}
			if rep.Pruned > 0 {
				fmt.Fprintf(e.stdout, "%d audit entries older than 3 years removed\n", rep.Pruned)
			}
		}
		if err == nil && rep.Refused() > 0 {
			err = fmt.Errorf("%d event bundles refused: see above; gated office report shows each gate's state", rep.Refused())
		}
		return err
	})
}

func officeReport(e *env, of officeFlags, args []string) error {
	fs := newFlags(e, "office report", "[--holidays FILE] [--json]")
	holidays := fs.String("holidays", "", "the holiday calendar for the 15-working-day limit (default "+defaultOfficeHolidays+" if present)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	path := *holidays
	if path == "" && !isNotExist(defaultOfficeHolidays) {
		path = defaultOfficeHolidays
	}
	cal, err := retention.LoadCalendar(path, "")
	if err != nil {
		return err
	}
	return withOffice(of, func(o *office.Office) error {
		rep, err := o.Report(cal)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, rep)
		}
		w := e.stdout
		fmt.Fprintf(w, "compound %s: %d residents, %d gates\n\n", rep.Compound, rep.Residents, len(rep.Gates))
		var rows [][]string
		for _, g := range rep.Gates {
			chain := "ok"
			if !g.ChainOK {
				chain = "BROKEN"
			}
			rows = append(rows, []string{g.Name, strconv.FormatUint(g.Published, 10), strconv.FormatUint(g.Applied, 10),
				strconv.FormatUint(g.EventsSeq, 10), strings.ReplaceAll(when(g.EventsAt), " ", "_"), strconv.Itoa(g.AuditHeld), chain})
		}
		table(w, "GATE PUBLISHED APPLIED EVENTS EVENTS_AT AUDIT_HELD CHAIN", rows)
		for _, g := range rep.Gates {
			if g.ChainError != "" {
				fmt.Fprintf(w, "%s: audit chain: %s\n", g.Name, g.ChainError)
			} else if g.Refusal != "" {
				fmt.Fprintf(w, "%s: last refused event bundle (%s): %s\n", g.Name, when(g.RefusedAt), g.Refusal)
			}
			for _, im := range g.Failed {
				fmt.Fprintf(w, "%s: refused records %d: %s\n", g.Name, im.Seq, im.Error)
			}
		}
		if len(rep.Faces) > 0 {
			fmt.Fprintln(w, "\nface data enrolled (templates per gate; the data stays on each gate):")
			rows = nil
			for _, f := range rep.Faces {
				var gs []string
				for g, n := range f.Gates {
					gs = append(gs, fmt.Sprintf("%s:%d", g, n))
				}
				sort.Strings(gs)
				rows = append(rows, []string{f.Resident, strings.ReplaceAll(orDash(f.Name), " ", "_"), strings.Join(gs, ",")})
			}
			table(w, "RESIDENT NAME GATES", rows)
		}
		fmt.Fprintf(w, "\nerasures pending: %d, past the %d-working-day limit: %d\n", len(rep.Erasures), retention.LegalWorkingDays, rep.Late)
		for _, er := range rep.Erasures {
			late := ""
			if er.Late {
				late = "  LATE"
			}
			fmt.Fprintf(w, "  %s %s asked %s at %s, due %s, waiting for %s%s\n", er.ID, er.Resident, when(er.Requested), er.Origin, when(er.Deadline), strings.Join(er.Pending, ","), late)
		}
		if rep.LogError != "" {
			fmt.Fprintf(w, "\noffice log: %s\n", rep.LogError)
			return errors.New("the office log's chain is broken")
		}
		fmt.Fprintf(w, "\noffice log: %d entries, chain ok\n", rep.Log)
		if rep.Late > 0 {
			return fmt.Errorf("%d erasures are past the legal limit", rep.Late)
		}
		return nil
	})
}
