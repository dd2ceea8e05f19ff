package archive

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
)

// List limits.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// ErrBadQuery marks a query the index cannot answer (a malformed
// continuation token, a state that is not terminal).
var ErrBadQuery = errors.New("bad query")

// Query selects archived jobs, newest end first.
type Query struct {
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit.
	Limit int
	// State keeps the jobs that ended in it (FINISHED, CANCELED, FAILED).
	State api.JobState
	// Name keeps the jobs whose name contains it, ignoring case.
	Name string
	// From and To bound the end time, inclusive; zero is open.
	From, To time.Time
	// Next is the continuation token of the previous page, asked with the
	// same filters.
	Next string
}

// Page is one page of archived jobs: the history server's answer to
// GET /v1/jobs, an api.JobList plus a continuation token.
type Page struct {
	Jobs []api.JobSummary `json:"jobs"`
	// Next, when set, asks for the next page (?next=...).
	Next string `json:"next,omitempty"`
}

// Index reads the archives and the index of a bucket. Its methods may be
// called from several goroutines at once; it keeps no state.
type Index struct {
	b    *blobstate.Bucket
	scan scanner
}

// NewIndex returns the index of the archives in b.
func NewIndex(b *blobstate.Bucket) *Index {
	return &Index{b: b, scan: newScanner(b)}
}

// List returns a page of archived jobs. It reads only the index: one
// listing call per page (more when filters skip many jobs), no archive.
func (x *Index) List(ctx context.Context, q Query) (*Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	view := allView
	if q.State != "" {
		if !q.State.Terminal() {
			return nil, fmt.Errorf("%w: state %q: archived jobs are FINISHED, CANCELED or FAILED", ErrBadQuery, q.State)
		}
		view = stateView(q.State)
	}
	cur, err := decodeCursor(q.Next)
	if err != nil {
		return nil, err
	}
	if !q.To.IsZero() { // skip the jobs that ended after To
		cur.After = max(cur.After, invertedEnd(q.To))
	}
	stopAt := ""
	if !q.From.IsZero() { // names after this one ended before From
		stopAt = invertedEnd(q.From) + "~"
	}
	name := strings.ToLower(q.Name)
	batch := limit + 1 // the page and the one after it, to know if there is more
	if name != "" || !q.To.IsZero() {
		batch = filterPage // names to skip
	}
	page := &Page{Jobs: []api.JobSummary{}}
	var resume cursor
	var more bool
	err = x.scan.scan(ctx, view, cur, batch, func(n string, next cursor) bool {
		if stopAt != "" && n > stopAt {
			return false
		}
		e, err := parseEntry(n)
		if err != nil {
			return true // not an entry: ignore it
		}
		if name != "" && !strings.Contains(strings.ToLower(e.Name), name) {
			return true
		}
		if len(page.Jobs) == limit {
			more = true
			return false
		}
		page.Jobs = append(page.Jobs, e.summary())
		resume = next
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list archived jobs: %w", err)
	}
	if more {
		page.Next = encodeCursor(resume)
	}
	return page, nil
}

func encodeCursor(c cursor) string {
	data, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(data, &c)
	}
	if err != nil {
		return cursor{}, fmt.Errorf("%w: malformed continuation token", ErrBadQuery)
	}
	return c, nil
}
