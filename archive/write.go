package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/blobstate"
)

// Write writes a job's archive, then its index entries, each with
// blobstate's create-if-absent write: of several coordinators that archive
// the same job (an old leader and a new one), exactly one archive is
// written and every index entry once. An archive that is already there is
// kept, and the index entries are those of the archive that won. Write
// reports whether this call wrote the archive; it is safe to call again
// after an error.
func Write(ctx context.Context, b *blobstate.Bucket, a *Archive) (bool, error) {
	if _, err := entryOf(a.Job); err != nil {
		return false, err
	}
	data, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("encode archive of job %s: %w", a.Job.ID, err)
	}
	wrote := true
	err = b.WriteOnce(ctx, Key(a.Job.ID), data)
	switch {
	case errors.Is(err, blobstate.ErrExists):
		wrote = false
		// index what the winner wrote (the same summary, from the same
		// replicated job, unless a bug says otherwise)
		if a, err = read(ctx, b, a.Job.ID); err != nil {
			return false, err
		}
	case err != nil:
		return false, fmt.Errorf("write archive of job %s: %w", a.Job.ID, err)
	}
	return wrote, writeIndex(ctx, b, a)
}

// writeIndex writes the index entries of an archived job that are missing.
func writeIndex(ctx context.Context, b *blobstate.Bucket, a *Archive) error {
	e, err := entryOf(a.Job)
	if err != nil {
		return err
	}
	for _, k := range e.keys() {
		if err := b.WriteOnce(ctx, k, nil); err != nil && !errors.Is(err, blobstate.ErrExists) {
			return fmt.Errorf("index archived job %s: %w", a.Job.ID, err)
		}
	}
	return nil
}

// read reads and decodes a job's archive; blobstate.ErrNotFound if there
// is none.
func read(ctx context.Context, b *blobstate.Bucket, id string) (*Archive, error) {
	data, err := b.Read(ctx, Key(id))
	if err != nil {
		return nil, fmt.Errorf("read archive of job %s: %w", id, err)
	}
	a, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Key(id), err)
	}
	if a.Job.ID != id {
		return nil, fmt.Errorf("%s holds job %s", Key(id), a.Job.ID)
	}
	return a, nil
}

// Read returns a job's archive; an error wrapping blobstate.ErrNotFound if
// the job is not archived.
func (x *Index) Read(ctx context.Context, id string) (*Archive, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("read archive: %w: %w", blobstate.ErrNotFound, err)
	}
	return read(ctx, x.b, id)
}

// Archived returns the ids of the archived jobs: one listing of archive/,
// no reads.
func (x *Index) Archived(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	err := x.scan.scan(ctx, Prefix, cursor{}, maxPage, func(n string, _ cursor) bool {
		if id, ok := strings.CutSuffix(n, ".json"); ok && checkID(id) == nil {
			out[id] = true
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list archives: %w", err)
	}
	return out, nil
}

// Repair writes the missing index entries of archived jobs, as left by a
// coordinator that stopped between an archive and its entries (or by a
// version that wrote no day views), and returns the ids of the jobs it
// indexed. archived is what Archived returned. Once every archive has its
// day entry it writes DayIndexComplete, which lets List answer time
// windows from the day views.
func (x *Index) Repair(ctx context.Context, archived map[string]bool) ([]string, error) {
	inAll, err := x.indexed(ctx, allView)
	if err != nil {
		return nil, err
	}
	inState := map[string]bool{}
	for _, s := range []string{"FINISHED", "CANCELED", "FAILED"} {
		ids, err := x.indexed(ctx, stateViews+s+"/")
		if err != nil {
			return nil, err
		}
		for id := range ids {
			inState[id] = true
		}
	}
	inDay, err := x.indexedDays(ctx)
	if err != nil {
		return nil, err
	}
	var repaired []string
	var errs []error
	for id := range archived {
		if inAll[id] && inState[id] && inDay[id] {
			continue
		}
		a, err := read(ctx, x.b, id)
		if err == nil {
			err = writeIndex(ctx, x.b, a)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		repaired = append(repaired, id)
	}
	if len(errs) == 0 {
		if err := x.b.WriteOnce(ctx, DayIndexComplete, nil); err != nil && !errors.Is(err, blobstate.ErrExists) {
			errs = append(errs, fmt.Errorf("mark the day views complete: %w", err))
		}
	}
	return repaired, errors.Join(errs...)
}

// indexedDays returns the ids that have an entry in a day view: one
// listing of all of them.
func (x *Index) indexedDays(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	err := x.scan.walk(ctx, dayViews, func(rel string) bool {
		day, n, ok := strings.Cut(rel, "/")
		if !ok {
			return true
		}
		if _, err := parseDay(day); err != nil {
			return true
		}
		if e, err := parseEntry(n); err == nil {
			out[e.ID] = true
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list index %s: %w", dayViews, err)
	}
	return out, nil
}

// indexed returns the ids that have an entry in a view.
func (x *Index) indexed(ctx context.Context, view string) (map[string]bool, error) {
	out := map[string]bool{}
	err := x.scan.scan(ctx, view, cursor{}, maxPage, func(n string, _ cursor) bool {
		if e, err := parseEntry(n); err == nil {
			out[e.ID] = true
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list index %s: %w", view, err)
	}
	return out, nil
}
