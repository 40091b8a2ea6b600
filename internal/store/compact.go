package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds each transaction that fills the new file, so a large
// store is rewritten without holding all of it in memory.
const compactTxSize = 32 << 20

// Compact rewrites the file so that it holds only live data: bbolt keeps
// the bytes of freed pages, and a rewrite is what makes deleted records
// unrecoverable from the file. DestroyFaceData, DeleteResident and
// RotateKEK call it themselves; call it to retry after one of them
// reported a failed rewrite.
func (db *DB) Compact() error {
	if db.readOnly {
		return fmt.Errorf("store: compact %s: %w", db.path, ErrReadOnly)
	}
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	if err := db.compact(); err != nil {
		return fmt.Errorf("store: compact %s: %w", db.path, err)
	}
	return nil
}

// compact copies the live data into a new file in the same directory
// (0600), syncs it, renames it over the store and switches to it. The
// caller holds db.compactMu, so no deletion or rotation runs meanwhile.
//
// The bulk copy reads a snapshot (a read transaction) while the store stays
// open for reads and writes. Then, under the exclusive lock, the new file is
// brought up to date with whatever was committed since the snapshot (a
// merge walk that rewrites only differing keys; nothing at all if no
// transaction committed) and the files are swapped: other callers wait for
// that step only. The snapshot is closed before the lock is taken: a writer
// that must grow bbolt's memory map waits for every open read transaction,
// while holding the shared lock.
func (db *DB) compact() error {
	return guard(db.compactFile)
}

func (db *DB) compactFile() error {
	start := time.Now()
	db.mu.RLock()
	if db.bolt == nil {
		db.mu.RUnlock()
		return ErrClosed
	}
	src := db.bolt
	snap, err := src.Begin(false)
	db.mu.RUnlock()
	if err != nil {
		return err
	}
	// compactMu keeps Close and other rewrites away, so src stays open.
	defer func() {
		if snap != nil {
			snap.Rollback()
		}
	}()

	dir := filepath.Dir(db.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(db.path)+".compact-*")
	if err != nil {
		return err
	}
	tmpPath := tmp.Name()
	err = tmp.Chmod(0o600)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmpPath)
		return err
	}
	dst, err := openBolt(tmpPath, false, db.opts)
	if err != nil {
		os.Remove(tmpPath)
		return err
	}
	swapped := false
	defer func() {
		if !swapped {
			dst.Close()
			os.Remove(tmpPath)
		}
	}()
	if err := copySnapshot(dst, snap); err != nil {
		return fmt.Errorf("copy: %w", err)
	}

	snapID := snap.ID()
	snap.Rollback()
	snap = nil
	if db.afterCopy != nil {
		db.afterCopy()
	}

	db.mu.Lock()
	defer db.mu.Unlock()
	locked := time.Now()
	if db.bolt != src {
		return ErrClosed
	}
	cur, err := src.Begin(false)
	if err != nil {
		return err
	}
	changed := 0
	if cur.ID() != snapID {
		changed, err = catchUp(dst, cur)
	}
	cur.Rollback()
	if err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	if err := dst.Sync(); err != nil {
		return err
	}
	oldSize, newSize := fileSize(db.path), fileSize(tmpPath)
	if err := os.Rename(tmpPath, db.path); err != nil {
		return err
	}
	swapped = true
	db.bolt = dst
	err = errors.Join(syncDir(dir), src.Close())
	db.log.Info("store compacted", "path", db.path, "bytes_before", oldSize, "bytes_after", newSize,
		"took", time.Since(start), "locked", time.Since(locked), "buckets_caught_up", changed)
	return err
}

// copySnapshot copies every top-level bucket of tx into dst, in key order,
// with full pages, committing every compactTxSize bytes. gated's buckets
// hold no nested buckets.
func copySnapshot(dst *bolt.DB, tx *bolt.Tx) error {
	var names [][]byte
	if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		names = append(names, bytes.Clone(name))
		return nil
	}); err != nil {
		return err
	}
	for _, name := range names {
		src := tx.Bucket(name)
		if err := dst.Update(func(dtx *bolt.Tx) error {
			b, err := dtx.CreateBucket(name)
			if err != nil {
				return err
			}
			return b.SetSequence(src.Sequence())
		}); err != nil {
			return err
		}
		c := src.Cursor()
		k, v := c.First()
		for k != nil {
			err := dst.Update(func(dtx *bolt.Tx) error {
				b := dtx.Bucket(name)
				b.FillPercent = 1.0
				for size := 0; k != nil && size < compactTxSize; k, v = c.Next() {
					if v == nil {
						return fmt.Errorf("nested bucket %q/%q", name, k)
					}
					if err := b.Put(k, v); err != nil {
						return err
					}
					size += len(k) + len(v)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// catchUp makes dst equal to cur, bucket by bucket. It returns how many
// buckets differed.
func catchUp(dst *bolt.DB, cur *bolt.Tx) (int, error) {
	changed := 0
	err := dst.Update(func(dtx *bolt.Tx) error {
		// Buckets gone since the snapshot (only a migration does that).
		var gone [][]byte
		dtx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if cur.Bucket(name) == nil {
				gone = append(gone, bytes.Clone(name))
			}
			return nil
		})
		for _, name := range gone {
			if err := dtx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return cur.ForEach(func(name []byte, b *bolt.Bucket) error {
			d, err := dtx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			if d.Sequence() != b.Sequence() {
				if err := d.SetSequence(b.Sequence()); err != nil {
					return err
				}
			}
			n, err := syncBucket(d, b)
			if n > 0 {
				changed++
			}
			return err
		})
	})
	return changed, err
}

// syncBucket makes dst hold exactly src's keys and values, by a merge walk.
// It returns how many keys it put or deleted.
func syncBucket(dst, src *bolt.Bucket) (int, error) {
	type kv struct{ k, v []byte }
	var puts []kv
	var dels [][]byte
	cs, cd := src.Cursor(), dst.Cursor()
	ks, vs := cs.First()
	kd, vd := cd.First()
	for ks != nil || kd != nil {
		switch c := compareKeys(ks, kd); {
		case c < 0:
			puts = append(puts, kv{ks, vs})
			ks, vs = cs.Next()
		case c > 0:
			dels = append(dels, bytes.Clone(kd))
			kd, vd = cd.Next()
		default:
			if !bytes.Equal(vs, vd) {
				puts = append(puts, kv{ks, vs})
			}
			ks, vs = cs.Next()
			kd, vd = cd.Next()
		}
	}
	for _, k := range dels {
		if err := dst.Delete(k); err != nil {
			return 0, err
		}
	}
	for _, p := range puts {
		if p.v == nil {
			return 0, fmt.Errorf("nested bucket %q", p.k)
		}
		if err := dst.Put(p.k, p.v); err != nil {
			return 0, err
		}
	}
	return len(puts) + len(dels), nil
}

// compareKeys orders keys with nil (the end of a bucket) last.
func compareKeys(a, b []byte) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return bytes.Compare(a, b)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}
