package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/blobstate"
)

// cursor is a position in a listing: just after the name After. Page is
// the page token of the listing page that holds After (nil for the first
// page), for buckets that cannot start a listing at a name. Day, in the
// cursors of a list walking the day views, is the name of the day view
// (dayName) that After and Page are in.
type cursor struct {
	After string `json:"a,omitempty"`
	Page  []byte `json:"p,omitempty"`
	Day   string `json:"d,omitempty"`
}

// scanner lists the object names directly under a prefix ("archive/" or a
// view of the index), in key order.
type scanner interface {
	// scan calls fn with each name under prefix that sorts after
	// cur.After, in key order, and the cursor that resumes just after it,
	// until fn returns false or the names run out. batch hints how many
	// names the caller expects to look at.
	scan(ctx context.Context, prefix string, cur cursor, batch int, fn func(name string, next cursor) bool) error
	// walk calls fn with the path below prefix of every object under
	// prefix, also in its subdirectories ("<day>/<entry>" under the day
	// views), until fn returns false.
	walk(ctx context.Context, prefix string, fn func(rel string) bool) error
}

// newScanner returns the fastest scanner for the bucket: a directory
// listing for file:// buckets, whose gocloud driver stats every object it
// lists and opens its sidecar file, also the ones before a page token (it
// lists 10,000 objects in 760 ms; a directory read and sort take 6 ms);
// paged listings otherwise.
func newScanner(b *blobstate.Bucket) scanner {
	if dir, ok := fileRoot(b.URL()); ok {
		return &dirScanner{root: dir}
	}
	return &blobScanner{b: b.Blob()}
}

// fileRoot returns the directory of a file:// bucket URL, as blobstate
// opens it.
func fileRoot(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" {
		return "", false
	}
	dir := filepath.FromSlash(u.Path)
	if u.Host == "." {
		dir = strings.TrimPrefix(dir, string(filepath.Separator))
	}
	return filepath.Clean(dir), true
}

// dirScanner reads a file:// bucket's directories. Keys are file paths
// there: blobstate refuses keys that would need escaping.
type dirScanner struct {
	root string
}

func (d *dirScanner) scan(_ context.Context, prefix string, cur cursor, _ int, fn func(string, cursor) bool) error {
	dir := filepath.Join(d.root, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	sort.Strings(names)
	for i := sort.SearchStrings(names, cur.After); i < len(names); i++ {
		n := names[i]
		if n <= cur.After || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".attrs") {
			continue
		}
		if !fn(n, cursor{After: n}) {
			return nil
		}
	}
	return nil
}

func (d *dirScanner) walk(_ context.Context, prefix string, fn func(string) bool) error {
	dir := filepath.Join(d.root, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // the prefix, or a directory being pruned
		}
		if err != nil {
			return err
		}
		n := de.Name()
		if de.IsDir() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".attrs") {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if !fn(filepath.ToSlash(rel)) {
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return nil
}

// blobScanner pages through a gocloud listing.
type blobScanner struct {
	b *blob.Bucket
}

// maxPage is the largest page that Azure Blob Storage returns; filterPage
// the page size of a scan that filters.
const (
	maxPage    = 5000
	filterPage = 1000
)

func (s *blobScanner) scan(ctx context.Context, prefix string, cur cursor, batch int, fn func(string, cursor) bool) error {
	token := cur.Page
	if token == nil {
		token = blob.FirstPageToken
	}
	// the same page size throughout, so that a cursor that resumes in the
	// middle of a page lists at most one batch again
	size := min(max(batch, 1), maxPage)
	opts := &blob.ListOptions{Prefix: prefix, Delimiter: "/"}
	for {
		objs, next, err := s.b.ListPage(ctx, token, size, opts)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for i, o := range objs {
			n := strings.TrimPrefix(o.Key, prefix)
			if o.IsDir || n <= cur.After {
				continue
			}
			resume := cursor{After: n, Page: token}
			if i == len(objs)-1 && len(next) > 0 {
				resume.Page = next // after a page's last name: the next page
			}
			if !fn(n, resume) {
				return nil
			}
		}
		if len(next) == 0 {
			return nil
		}
		token = next
	}
}

func (s *blobScanner) walk(ctx context.Context, prefix string, fn func(string) bool) error {
	token := blob.FirstPageToken
	opts := &blob.ListOptions{Prefix: prefix}
	for {
		objs, next, err := s.b.ListPage(ctx, token, maxPage, opts)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range objs {
			if !o.IsDir && !fn(strings.TrimPrefix(o.Key, prefix)) {
				return nil
			}
		}
		if len(next) == 0 {
			return nil
		}
		token = next
	}
}
