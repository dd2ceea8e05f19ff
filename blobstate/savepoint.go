package blobstate

import (
	"fmt"
	"strings"
)

// SavepointDir returns the directory of savepoint id in b: savepoints/<id>/,
// with the same layout as a checkpoint. An invalid id makes every method
// fail.
func SavepointDir(b *Bucket, id string) *Dir {
	d := &Dir{b: b, prefix: "savepoints/" + id + "/", label: "savepoint " + id, savepoint: true}
	if err := checkID(id); err != nil {
		d.err = fmt.Errorf("savepoint id: %w", err)
	}
	return d
}

// SavepointRef names a savepoint: the bucket that holds it and its id.
type SavepointRef struct {
	// Bucket is the bucket URL; "" means the job's default bucket.
	Bucket string
	// ID is the savepoint's id: its directory is savepoints/<ID>/.
	ID string
}

// String returns the form ParseSavepointURL reads: "<bucket URL>#savepoints/<id>",
// or "savepoints/<id>" for the default bucket.
func (r SavepointRef) String() string {
	if r.Bucket == "" {
		return "savepoints/" + r.ID
	}
	return r.Bucket + "#savepoints/" + r.ID
}

// ParseSavepointURL reads a savepoint reference, as `sluice savepoint`
// prints it and --from-savepoint takes it:
//
//	<bucket URL>#savepoints/<id>   e.g. azblob://prod?...#savepoints/sp-7, file:///data/bucket#savepoints/sp-7
//	savepoints/<id>                in the job's default bucket
//	<id>                           the same
//
// The bucket URL is everything before '#' (the bucket's own URL never has a
// fragment); a plain directory path works as in --bucket.
func ParseSavepointURL(s string) (SavepointRef, error) {
	var r SavepointRef
	rest := s
	if i := strings.LastIndex(s, "#"); i >= 0 {
		u, err := Normalize(s[:i])
		if err != nil {
			return SavepointRef{}, fmt.Errorf("savepoint %q: %w", s, err)
		}
		r.Bucket, rest = u, s[i+1:]
		if !strings.HasPrefix(rest, "savepoints/") {
			return SavepointRef{}, fmt.Errorf("savepoint %q: expected #savepoints/<id> after the bucket URL", s)
		}
	}
	r.ID = strings.TrimSuffix(strings.TrimPrefix(rest, "savepoints/"), "/")
	if err := checkID(r.ID); err != nil {
		return SavepointRef{}, fmt.Errorf("savepoint %q: id %w", s, err)
	}
	return r, nil
}
