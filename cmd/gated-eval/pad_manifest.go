package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// padLabel is what MANIFEST.tsv (../shared/pad) says of one image.
type padLabel struct {
	Class      string // "bonafide" or "attack"
	AttackType string // "print", "screen", "replay", "unknown"; "" for bona fide
	Subject    string // the cross-validation group
	Source     string // the repository it came from
}

// maxManifestLine bounds one line of a manifest.
const maxManifestLine = 64 << 10

// parseManifest reads a PAD manifest: a tab-separated header naming at
// least the columns class, file, subject and attack_type (source_repo
// optional), then one row per image. It returns the labels by the file
// column (e.g. "attack/cvz-suman__suman__206.jpg"). A row with the wrong
// number of fields, an unknown class, an empty or duplicate file, or a
// line longer than 64 KiB is an error naming its line.
func parseManifest(r io.Reader) (map[string]padLabel, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxManifestLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		return nil, fmt.Errorf("manifest: empty")
	}
	head := strings.Split(strings.TrimRight(sc.Text(), "\r"), "\t")
	col := func(name string) int { return slices.Index(head, name) }
	iClass, iFile, iSubj, iType, iSrc := col("class"), col("file"), col("subject"), col("attack_type"), col("source_repo")
	if iClass < 0 || iFile < 0 || iSubj < 0 || iType < 0 {
		return nil, fmt.Errorf("manifest: line 1: header %q lacks one of class, file, subject, attack_type", strings.Join(head, " "))
	}
	out := make(map[string]padLabel)
	for n := 2; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != len(head) {
			return nil, fmt.Errorf("manifest: line %d: %d fields, want %d", n, len(f), len(head))
		}
		l := padLabel{Class: f[iClass], AttackType: f[iType], Subject: f[iSubj]}
		if iSrc >= 0 {
			l.Source = f[iSrc]
		}
		switch l.Class {
		case "bonafide":
			l.AttackType = ""
		case "attack":
			if l.AttackType == "" {
				l.AttackType = "unknown"
			}
		default:
			return nil, fmt.Errorf("manifest: line %d: class %q, want bonafide or attack", n, l.Class)
		}
		file := f[iFile]
		if file == "" {
			return nil, fmt.Errorf("manifest: line %d: empty file", n)
		}
		if _, dup := out[file]; dup {
			return nil, fmt.Errorf("manifest: line %d: file %q listed twice", n, file)
		}
		out[file] = l
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return out, nil
}
