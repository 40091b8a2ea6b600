// Package upkeep keeps a gate's store healthy while the gate runs:
// destructions that could not finish on disk are retried, a key rotation
// left half done is finished, expired face data and visitor passes are
// purged, and verified backups are taken on schedule and soon after staff
// change residents or credentials. It raises and clears the standing
// alarms that say what is wrong and what to do.
//
// It owns the timing and the wording of those alarms, nothing else: the
// store does the work (store.DB), the face set the purge (faces.Set), and
// the daemon shows the alarms. It never opens a file itself.
package upkeep

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

// Store is what upkeep asks of the store (*store.DB).
type Store interface {
	FinishPending() (int, error)
	RotationPending() (bool, error)
	PendingDestructions() ([]store.PendingDestruction, error)
	PrunePasses(actor string, keep time.Duration) (int, error)
	BackupDue(every time.Duration) (bool, error)
	AutoBackup(kind store.BackupKind) (store.BackupInfo, error)
}

// Faces purges face data whose retention has run out (*faces.Set).
type Faces interface {
	Purge(now time.Time) (int, error)
}

// Config sets the timings and the daemon's side.
type Config struct {
	RetryEvery        time.Duration // retry unfinished destructions and rotations
	BackupEvery       time.Duration // a scheduled backup when the newest is older
	BackupAfterChange time.Duration // how long a burst of changes settles before its backup
	DataDir           string        // named in the alarms: where to free space
	// Changed receives when staff changed residents or credentials.
	Changed <-chan struct{}
	// Alarm raises (sentence) or clears ("") the standing alarm of kind.
	Alarm func(kind, sentence string)
	Log   *slog.Logger
}

// Run does the upkeep until ctx ends; a change waiting for its backup is
// backed up before it returns.
func Run(ctx context.Context, cfg Config, st Store, fs Faces) error {
	u := &upkeep{cfg: cfg, st: st, faces: fs}
	u.finishPending()
	u.purge()
	u.backupIfDue()
	retry := time.NewTicker(cfg.RetryEvery)
	defer retry.Stop()
	purge := time.NewTicker(10 * time.Minute)
	defer purge.Stop()
	backup := time.NewTicker(min(cfg.BackupEvery/4, time.Hour))
	defer backup.Stop()
	var afterChange <-chan time.Time // set while a change waits for its backup
	for {
		select {
		case <-ctx.Done():
			if afterChange != nil {
				u.backupNow(store.BackupAfterChange) // a change waited for its backup: take it before stopping
			}
			return nil
		case <-retry.C:
			u.finishPending()
		case <-purge.C:
			u.purge()
		case <-backup.C:
			u.backupIfDue()
		case <-cfg.Changed:
			afterChange = time.After(cfg.BackupAfterChange) // settle: a burst of changes, one backup
		case <-afterChange:
			afterChange = nil
			u.backupNow(store.BackupAfterChange)
		}
	}
}

type upkeep struct {
	cfg   Config
	st    Store
	faces Faces
}

func (u *upkeep) finishPending() {
	done, err := u.st.FinishPending()
	if done > 0 {
		u.cfg.Log.Info("upkeep: pending destructions completed", "done", done)
	}
	switch rp, rerr := u.st.RotationPending(); {
	case rerr != nil:
		u.cfg.Log.Error("upkeep: rotation pending", "err", rerr)
	case rp:
		why := ""
		if err != nil {
			why = " (" + err.Error() + ")"
		}
		u.cfg.Alarm("rotation", fmt.Sprintf("the device key was rotated, but the file's rewrite or the backup under the new key is not done yet%s: retried every %s; free space in %s", why, u.cfg.RetryEvery, u.cfg.DataDir))
	default:
		u.cfg.Alarm("rotation", "")
	}
	ps, perr := u.st.PendingDestructions()
	if perr != nil {
		u.cfg.Log.Error("upkeep: pending destructions", "err", perr)
		return
	}
	if len(ps) == 0 {
		u.cfg.Alarm("pending", "")
		return
	}
	u.cfg.Alarm("pending", fmt.Sprintf("%d opt-outs are out of use but not yet gone from disk (%v); retried every %s: free space in %s", len(ps), err, u.cfg.RetryEvery, u.cfg.DataDir))
}

func (u *upkeep) purge() {
	n, err := u.faces.Purge(time.Now())
	if err != nil {
		u.cfg.Log.Error("upkeep: retention purge", "err", err)
	}
	if n > 0 {
		u.cfg.Log.Info("upkeep: retention purge", "destroyed", n)
	}
	if n, err := u.st.PrunePasses("system", store.PassKeep); err != nil {
		u.cfg.Log.Error("upkeep: visitor passes purge", "err", err)
	} else if n > 0 {
		u.cfg.Log.Info("upkeep: visitor passes purge", "removed", n)
	}
}

// backupIfDue takes a scheduled backup when the newest is older than the
// interval (or has a time in the future: the clock went back).
func (u *upkeep) backupIfDue() {
	due, err := u.st.BackupDue(u.cfg.BackupEvery)
	if err == nil && !due {
		return
	}
	u.backupNow(store.BackupScheduled)
}

func (u *upkeep) backupNow(kind store.BackupKind) {
	info, err := u.st.AutoBackup(kind)
	if err != nil {
		u.cfg.Alarm("backup", "the automatic backup failed: "+err.Error())
		return
	}
	u.cfg.Alarm("backup", "")
	if info.ClockBehind > 0 {
		u.cfg.Alarm("clock", fmt.Sprintf("the clock is %s behind the previous backup's time: check the time source (backups are ordered by their number, not their time)", info.ClockBehind.Round(time.Second)))
	} else {
		u.cfg.Alarm("clock", "")
	}
	if info.AuditDamage != nil {
		u.cfg.Alarm("audit", info.AuditDamage.Error())
	} else {
		u.cfg.Alarm("audit", "")
	}
	u.cfg.Log.Info("upkeep: backup taken", "path", info.Path, "kind", kind, "generation", info.Generation, "bytes", info.Size)
}
