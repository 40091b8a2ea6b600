package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/daemon"
	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/recognizer/livenessnet"
	"github.com/gated-dev/gated/internal/recognizer/yunet"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/schedule"
	"github.com/gated-dev/gated/internal/store"
	"github.com/gated-dev/gated/models"
)

const defaultConfig = "/etc/gated/gated.toml"

func runRun(e *env, args []string) error {
	fs := newFlags(e, "run", "[--config FILE]")
	path := fs.String("config", defaultConfig, "configuration file")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usageError{"--log-level: " + err.Error()}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lv}))
	if os.Geteuid() == 0 {
		log.Warn("gated runs as root: install the systemd unit to run it as its own user, sandboxed")
	}
	return daemon.Run(e.ctx, daemon.Options{Config: cfg, Log: log, Version: version, Getenv: e.getenv})
}

// runCheck checks a configuration and what it points to, without starting
// anything: the file's rules, the device key (present, 0600, ours), and the
// model files (present, verified). systemd runs it before the daemon.
func runCheck(e *env, args []string) error {
	fs := newFlags(e, "check", "[--config FILE]")
	path := fs.String("config", defaultConfig, "configuration file")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	var problems []error
	keyNote, weakKey := "", ""
	switch {
	case cfg.Device.KeyCredential != "" && e.getenv("CREDENTIALS_DIRECTORY") == "":
		// Outside systemd there is no credential to look at: the unit's
		// ExecStartPre runs this check again with it.
		keyNote = fmt.Sprintf("; key: systemd credential %q, checked when the service starts", cfg.Device.KeyCredential)
	case cfg.Device.KeyCredential != "":
		if _, err := store.LoadKEKCredential(cfg.Device.KeyCredential); errors.Is(err, store.ErrWeakKey) {
			weakKey = fmt.Sprintf("device.key_credential: %v", err)
		} else if err != nil {
			problems = append(problems, fmt.Errorf("device.key_credential: %w", err))
		}
	default:
		if _, err := store.LoadKEKFile(cfg.Device.KeyFile); errors.Is(err, store.ErrWeakKey) {
			weakKey = fmt.Sprintf("device.key_file: %v", err)
		} else if err != nil {
			problems = append(problems, fmt.Errorf("device.key_file: %w (make one with: gated keygen --out %s --owner gated)", err, cfg.Device.KeyFile))
		}
	}
	// Missing or damaged models, or a calendar that does not read, do not
	// stop the gate (face is then off, deadlines count Monday to Friday):
	// they are warnings, so that systemd still starts card and PIN.
	var warnings []string
	if weakKey != "" {
		warnings = append(warnings, weakKey) // the store still opens with it: rotate, do not replace
	}
	if cfg.Face.Enabled {
		if why := cfg.Face.Unguarded(); why != "" {
			warnings = append(warnings, "face.pad_max_apcer: face will not identify or replace a PIN: "+why+" (docs/liveness.md)")
		}
		if w := cfg.Face.UnguardedByChoice(); w != "" {
			warnings = append(warnings, w+" (docs/liveness.md)")
		}
		if cfg.Face.Challenge && cfg.Face.Detector == "auto" {
			if err := models.Verify(cfg.Device.ModelsDir, yunet.File); err != nil {
				warnings = append(warnings, fmt.Sprintf("face.challenge: %v: without the yunet detector every face will be refused as unchallengeable (scripts/fetch-face-model.sh)", err))
			}
		}
		if cfg.Face.Challenge && cfg.Face.Unguarded() != "" {
			warnings = append(warnings, "face.challenge is on, but it does not count as presentation-attack detection for face.pad_max_apcer: it is measured on views of photos only (docs/liveness.md)")
		}
		if cfg.Face.FramesRaised {
			warnings = append(warnings, "face.frames = 1 is raised to 2: presentation-attack detection (face.liveness or camera.nir) decides on the fused frames of one face, never on one lucky frame (set frames = 2 or more to silence this)")
		}
		if cfg.Face.Liveness != "" {
			if err := models.Verify(cfg.Device.ModelsDir, livenessnet.File); err != nil {
				warnings = append(warnings, fmt.Sprintf("face.liveness: %v: face recognition will be off until it is fetched (scripts/fetch-face-model.sh liveness)", err))
			}
		}
		if n := cfg.Camera.NIR; n.On() {
			warnings = append(warnings, fmt.Sprintf("NIR camera fitted: not measured here (no NIR hardware): it refuses faces the NIR frame does not show, but does not lower the measured APCER the policy counts (%.1f%% for face.liveness = %q; docs/liveness.md); until staff run gated camera nir-register every face is refused as not live (gated status says whether it is registered)",
				100*liveness.APCER(cfg.Face.Liveness), cfg.Face.Liveness))
			if err := models.Verify(cfg.Device.ModelsDir, models.YuNetFile); err != nil {
				warnings = append(warnings, fmt.Sprintf("camera.nir: %v: face recognition will be off until YuNet is fetched (scripts/fetch-face-model.sh yunet)", err))
			}
		}
		if err := models.VerifyFaceModel(cfg.Device.ModelsDir, cfg.Face.Model); err != nil {
			warnings = append(warnings, fmt.Sprintf("device.models_dir: %v: face recognition will be off until this is fixed (card and PIN work)", err))
		}
	}
	cal, err := retention.LoadCalendar(cfg.Privacy.Holidays, cfg.Privacy.TimeZone)
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("privacy.holidays: %v: deletion deadlines will be counted Monday to Friday", err))
		loc, zerr := time.LoadLocation(cfg.Privacy.TimeZone) // as the daemon does without its calendar
		if zerr != nil || cfg.Privacy.TimeZone == "" {
			loc = time.Local
		}
		cal = retention.Weekdays(loc)
	}
	if w := unlockWarning(cfg, cal, time.Now()); w != "" {
		warnings = append(warnings, w)
	}
	if ap := cfg.Schedule.AntiPassback; cfg.Schedule.UnlockProfile != "" && len(ap.Entry)+len(ap.Exit) > 0 {
		warnings = append(warnings, "schedule.unlock_profile with schedule.anti_passback: people who badged in and leave through the door held open by the window are not seen leaving, and are refused at the entry reader afterwards until staff run gated resident set ID --clear-passback (docs/ops-sched.md)")
	}
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "%s: warning: %s\n", *path, w)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: the configuration is valid, but:\n%w", *path, errors.Join(problems...))
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d readers, relay %s, face %s%s)\n", *path, len(cfg.Readers), cfg.Relay.Type, map[bool]string{true: "on", false: "off"}[cfg.Face.Enabled], keyNote)
	return nil
}

// unlockWarning warns when schedule.unlock_profile holds the door unlocked
// for half of the next seven days or more (from now, on the calendar): a
// profile that holds always, or hours written the wrong way round ("daily
// 09:00-07:00" runs past midnight). They are valid, and an office may
// mean them, so it is a warning, not an error.
func unlockWarning(cfg *config.Config, cal *retention.Calendar, now time.Time) string {
	name := cfg.Schedule.UnlockProfile
	if name == "" {
		return ""
	}
	ps, err := cfg.ScheduleProfiles()
	if err != nil {
		return "" // an error of Load already
	}
	set, err := schedule.NewSet(ps, cfg.Schedule.Groups, cal, cal.Location)
	if err != nil {
		return ""
	}
	const week = 7 * 24 * 60
	held := 0
	start := now.Truncate(time.Minute)
	for m := range week {
		if set.Holds(name, start.Add(time.Duration(m)*time.Minute)) {
			held++
		}
	}
	switch {
	case held == week:
		return fmt.Sprintf("schedule.unlock_profile: profile %q holds at every minute of the next 7 days: gated will never lock the door (leave unlock_profile out to keep it locked between grants)", name)
	case 2*held >= week:
		return fmt.Sprintf("schedule.unlock_profile: profile %q holds the door unlocked %d h of the next 7 days: check its windows (one whose end is before its start runs past midnight: \"daily 09:00-07:00\" is 22 h a day)", name, held/60)
	}
	return ""
}
