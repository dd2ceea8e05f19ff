package blobstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// MetadataName is the object, in a checkpoint or savepoint directory, that
// is written last and marks it complete.
const MetadataName = "_metadata"

// MetadataVersion is the version of the _metadata format this package
// writes; it reads this version and older ones.
const MetadataVersion = 1

var (
	// ErrCorrupt: a piece is missing, or its size or checksum is not the one
	// _metadata lists; or _metadata itself does not parse.
	ErrCorrupt = errors.New("corrupt checkpoint")
	// ErrIncomplete: the directory has no _metadata.
	ErrIncomplete = errors.New("incomplete checkpoint: no _metadata")
)

// Piece is one object of a checkpoint, as _metadata lists it.
type Piece struct {
	// Name is the object's key relative to the directory.
	Name string `json:"name"`
	// Size is the object's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the object.
	SHA256 string `json:"sha256"`
}

// Metadata is the content of _metadata: what a checkpoint or savepoint
// holds and when it was taken.
type Metadata struct {
	Version     int       `json:"version"`
	Job         string    `json:"job"`
	Checkpoint  int64     `json:"checkpoint"`
	Savepoint   bool      `json:"savepoint,omitempty"`
	TriggeredAt time.Time `json:"triggeredAt"`
	CompletedAt time.Time `json:"completedAt"`
	Pieces      []Piece   `json:"pieces"`
	// State is the coordinator's own description of the job at this
	// checkpoint (source positions, watermark, spec version, parallelism).
	State json.RawMessage `json:"state,omitempty"`
}

// Size returns the total size of the pieces.
func (md *Metadata) Size() int64 {
	var n int64
	for _, p := range md.Pieces {
		n += p.Size
	}
	return n
}

// Dir is one checkpoint or savepoint directory. Its methods may be called
// from several goroutines at once.
type Dir struct {
	b         *Bucket
	prefix    string // ends with "/"
	label     string // for errors: "chk-3 of job j" or "savepoint s"
	job       string // "" for savepoints
	n         int64
	savepoint bool
	err       error // an invalid job or savepoint id, reported by every method
}

// Prefix returns the directory's key prefix, ending with "/".
func (d *Dir) Prefix() string { return d.prefix }

// String names the directory for messages.
func (d *Dir) String() string { return d.label }

// WritePiece writes one piece (replacing an earlier attempt's) and returns
// what _metadata must list for it.
func (d *Dir) WritePiece(ctx context.Context, name string, data []byte) (Piece, error) {
	if err := d.checkPiece(name); err != nil {
		return Piece{}, err
	}
	sum := sha256.Sum256(data)
	if err := d.b.Write(ctx, d.prefix+name, data); err != nil {
		return Piece{}, fmt.Errorf("%s: %w", d.label, err)
	}
	return Piece{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// ReadPiece reads a piece and checks its size and checksum: ErrCorrupt if
// it is missing or differs from p.
func (d *Dir) ReadPiece(ctx context.Context, p Piece) ([]byte, error) {
	if err := d.checkPiece(p.Name); err != nil {
		return nil, err
	}
	key := d.prefix + p.Name
	data, err := d.b.Read(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%s: piece %s is missing: %w: %w", d.label, key, ErrCorrupt, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.label, err)
	}
	if int64(len(data)) != p.Size {
		return nil, fmt.Errorf("%s: piece %s has %d bytes, _metadata says %d: %w", d.label, key, len(data), p.Size, ErrCorrupt)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != p.SHA256 {
		return nil, fmt.Errorf("%s: piece %s has SHA-256 %x, _metadata says %s: %w", d.label, key, sum, p.SHA256, ErrCorrupt)
	}
	return data, nil
}

// WriteMetadata completes the directory: it writes _metadata, once
// (ErrExists if it is already there). Call it after every piece is written.
// Version, Job, Checkpoint and Savepoint are filled in from the directory
// where md leaves them zero, and must agree with it otherwise.
func (d *Dir) WriteMetadata(ctx context.Context, md *Metadata) error {
	if d.err != nil {
		return d.err
	}
	if md.Version == 0 {
		md.Version = MetadataVersion
	}
	if d.savepoint {
		md.Savepoint = true
	} else {
		if md.Job == "" {
			md.Job = d.job
		}
		if md.Checkpoint == 0 {
			md.Checkpoint = d.n
		}
	}
	if err := d.checkMetadata(md); err != nil {
		return fmt.Errorf("%s: write _metadata: %w", d.label, err)
	}
	data, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: write _metadata: %w", d.label, err)
	}
	if err := d.b.WriteOnce(ctx, d.prefix+MetadataName, append(data, '\n')); err != nil {
		return fmt.Errorf("%s: %w", d.label, err)
	}
	return nil
}

func (d *Dir) checkMetadata(md *Metadata) error {
	switch {
	case md.Version != MetadataVersion:
		return fmt.Errorf("version %d: this Sluice writes version %d", md.Version, MetadataVersion)
	case md.Job == "":
		return errors.New("no job")
	case !d.savepoint && md.Job != d.job:
		return fmt.Errorf("job %q in a directory of job %q", md.Job, d.job)
	case !d.savepoint && md.Checkpoint != d.n:
		return fmt.Errorf("checkpoint %d in the directory of checkpoint %d", md.Checkpoint, d.n)
	case !d.savepoint && md.Savepoint:
		return errors.New("a savepoint in a checkpoint directory")
	}
	seen := make(map[string]bool, len(md.Pieces))
	for i, p := range md.Pieces {
		if err := d.checkPiece(p.Name); err != nil {
			return fmt.Errorf("pieces[%d]: %w", i, err)
		}
		if seen[p.Name] {
			return fmt.Errorf("pieces[%d]: duplicate piece %q", i, p.Name)
		}
		seen[p.Name] = true
		if p.Size < 0 {
			return fmt.Errorf("pieces[%d]: negative size %d", i, p.Size)
		}
		if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("pieces[%d]: sha256 %q is not 64 hex digits", i, p.SHA256)
		}
	}
	if md.State != nil && !json.Valid(md.State) {
		return errors.New("state is not valid JSON")
	}
	return nil
}

// ReadMetadata reads _metadata: ErrIncomplete if there is none, ErrCorrupt
// if it does not parse.
func (d *Dir) ReadMetadata(ctx context.Context) (*Metadata, error) {
	if d.err != nil {
		return nil, d.err
	}
	key := d.prefix + MetadataName
	data, err := d.b.Read(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", d.label, ErrIncomplete)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.label, err)
	}
	var md Metadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("%s: %s: %w: %v", d.label, key, ErrCorrupt, err)
	}
	if md.Version < 1 {
		return nil, fmt.Errorf("%s: %s: %w: no version", d.label, key, ErrCorrupt)
	}
	if md.Version > MetadataVersion {
		return nil, fmt.Errorf("%s: %s has version %d; this Sluice reads up to version %d", d.label, key, md.Version, MetadataVersion)
	}
	if err := d.checkMetadata(&md); err != nil {
		return nil, fmt.Errorf("%s: %s: %w: %v", d.label, key, ErrCorrupt, err)
	}
	return &md, nil
}

// IsComplete reports whether the directory has its _metadata.
func (d *Dir) IsComplete(ctx context.Context) (bool, error) {
	if d.err != nil {
		return false, d.err
	}
	ok, err := d.b.Exists(ctx, d.prefix+MetadataName)
	if err != nil {
		return false, fmt.Errorf("%s: %w", d.label, err)
	}
	return ok, nil
}

// verifyParallelism bounds the pieces Verify reads at once.
const verifyParallelism = 4

// Verify reads every piece that md lists and checks its size and checksum;
// the error lists every bad piece (each wrapping ErrCorrupt).
func (d *Dir) Verify(ctx context.Context, md *Metadata) error {
	if d.err != nil {
		return d.err
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, verifyParallelism)
	)
	for _, p := range md.Pieces {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := d.ReadPiece(ctx, p); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Delete deletes the directory: _metadata first, so that a directory is
// never seen complete with pieces missing, then every other object in it.
func (d *Dir) Delete(ctx context.Context) error {
	if d.err != nil {
		return d.err
	}
	if err := d.b.Delete(ctx, d.prefix+MetadataName); err != nil {
		return fmt.Errorf("%s: %w", d.label, err)
	}
	objs, err := d.b.List(ctx, d.prefix, "")
	if err != nil {
		return fmt.Errorf("%s: %w", d.label, err)
	}
	var errs []error
	for _, o := range objs {
		if err := d.b.Delete(ctx, o.Key); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && d.b.kind == kindFile {
		removeEmptyDirs(d.b.path(strings.TrimSuffix(d.prefix, "/")))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: delete: %w", d.label, err)
	}
	return nil
}

// removeEmptyDirs removes dir and the directories under it if they hold no
// files (a file:// bucket keeps the directories of deleted objects).
func removeEmptyDirs(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			removeEmptyDirs(filepath.Join(dir, e.Name()))
		}
	}
	os.Remove(dir) // fails, as it should, if anything is left
}

func (d *Dir) checkPiece(name string) error {
	if d.err != nil {
		return d.err
	}
	if name == MetadataName {
		return fmt.Errorf("%s: piece name %q is reserved", d.label, name)
	}
	if err := checkKey(name); err != nil {
		return fmt.Errorf("%s: piece name: %w", d.label, err)
	}
	return nil
}
