package blobstate

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// stagingDir, at the root of a file:// bucket, holds the files that Write
// and WriteOnce are writing until they are renamed or linked into place. Its
// name, and the names of the files in it, end in ".attrs" because the
// fileblob driver leaves such names out of listings (they are its sidecar
// files) and refuses them as keys: no reader of the bucket sees a staged
// file, and no key can name one. It must be on the bucket's filesystem,
// which link(2) and rename(2) need.
const stagingDir = ".sluice-staging.attrs"

// stagedMaxAge is the age after which a staged file is debris from a writer
// that crashed; opening the bucket removes such files.
const stagedMaxAge = time.Hour

// path returns the file of a key (checked by checkKey, so it needs no
// escaping and stays inside the bucket).
func (b *Bucket) path(key string) string {
	return filepath.Join(b.dir, filepath.FromSlash(key))
}

// stage writes data to a new file in the staging directory and syncs it.
func (b *Bucket) stage(data []byte) (string, error) {
	dir := filepath.Join(b.dir, stagingDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", err
	}
	var f *os.File
	for {
		var err error
		name := filepath.Join(dir, strconv.FormatUint(rand.Uint64(), 36)+".attrs")
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// fileWrite stages data and renames it over the key's file, or, once, links
// it into place: link(2) fails if the target exists, atomically, for
// writers in any process.
func (b *Bucket) fileWrite(key string, data []byte, once bool) error {
	tmp, err := b.stage(data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	dst := b.path(key)
	for attempt := 1; ; attempt++ {
		if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
			return err
		}
		if once {
			err = linkOnce(tmp, dst)
		} else {
			err = os.Rename(tmp, dst)
		}
		// a Delete of the last object in the directory may have removed
		// it between MkdirAll and here: make it again
		if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			return err
		}
	}
}

// fileCopyOnce links the source's file to the destination.
func (b *Bucket) fileCopyOnce(src, dst string) error {
	sp, dp := b.path(src), b.path(dst)
	st, err := os.Stat(sp)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%w: %s is a directory", ErrNotFound, sp)
	}
	if err := os.MkdirAll(filepath.Dir(dp), 0o777); err != nil {
		return err
	}
	return linkOnce(sp, dp)
}

func linkOnce(from, to string) error {
	err := os.Link(from, to)
	if errors.Is(err, fs.ErrExist) {
		if st, serr := os.Lstat(to); serr == nil && st.IsDir() {
			return fmt.Errorf("%s is a directory: a file:// bucket cannot hold both a key and keys under it", to)
		}
		return ErrExists
	}
	return err
}

// sweepStaging removes staged files left by writers that crashed.
func sweepStaging(root string) {
	dir := filepath.Join(root, stagingDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > stagedMaxAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// PruneEmptyDirs removes the empty directories above key in a file bucket,
// up to the bucket's root; other buckets have no directories. Object stores
// have no empty directories, and a file bucket should not keep them (a
// sink's emptied staging area, say). Call it only when nothing writes under
// those directories any more: a writer about to create a file in one would
// lose it.
func (b *Bucket) PruneEmptyDirs(key string) {
	if b.kind != kindFile || checkKey(key) != nil {
		return
	}
	dir := filepath.Dir(b.path(key))
	for dir != b.dir && strings.HasPrefix(dir, b.dir+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return // not empty (or gone): stop
		}
		dir = filepath.Dir(dir)
	}
}

// RemoveEmptyDirs removes the directories at and under prefix (a key prefix
// ending in '/') that hold no files, in a file bucket; other buckets have
// no directories. As with PruneEmptyDirs, call it only when nothing writes
// under prefix any more.
func (b *Bucket) RemoveEmptyDirs(prefix string) {
	dir := strings.TrimSuffix(prefix, "/")
	if b.kind != kindFile || checkKey(dir) != nil {
		return
	}
	removeEmptyDirs(b.path(dir))
}
