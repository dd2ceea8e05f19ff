package archive

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
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
	// days is set once DayIndexComplete has been seen: the marker is never
	// removed, so it is not looked up again.
	days atomic.Bool
}

// NewIndex returns the index of the archives in b.
func NewIndex(b *blobstate.Bucket) *Index {
	return &Index{b: b, scan: newScanner(b)}
}

// maxEmptyDays bounds the day views in a row that one page of a time
// window lists without keeping a job, and maxMissedDays all of them: a page
// that reaches either ends there, with a continuation token, however few
// jobs it has.
const (
	maxEmptyDays  = 31
	maxMissedDays = 4 * maxEmptyDays
)

// List returns a page of archived jobs. It reads only the index: one
// listing call per page (more when filters skip many jobs), no archive. A
// time window with a lower bound (From) lists the day views of its days,
// newest first, once DayIndexComplete says that they are complete.
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
	if !q.From.IsZero() {
		if !x.days.Load() {
			days, err := x.b.Exists(ctx, DayIndexComplete)
			if err != nil {
				return nil, fmt.Errorf("list archived jobs: %w", err)
			}
			x.days.Store(days)
		}
		if x.days.Load() {
			return x.listDays(ctx, q, limit, cur)
		}
	}
	if cur.Day != "" { // a token of the day views: its page token is theirs
		cur = cursor{After: cur.After}
	}
	if !q.To.IsZero() { // skip the jobs that ended after To
		cur.After = max(cur.After, invertedEnd(q.To))
	}
	stopAt := ""
	if !q.From.IsZero() { // names after this one ended before From
		stopAt = invertedEnd(q.From) + "~"
	}
	match := matcher(q.Name, "")
	batch := limit + 1 // the page and the one after it, to know if there is more
	if q.Name != "" || !q.To.IsZero() {
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
		if err != nil || !match(e) {
			return true // not an entry, or filtered out
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

// matcher returns the name and state filter of a query: name a
// case-insensitive substring, state empty for any.
func matcher(name string, state api.JobState) func(entry) bool {
	name = strings.ToLower(name)
	return func(e entry) bool {
		return (state == "" || e.State == state) && (name == "" || strings.Contains(strings.ToLower(e.Name), name))
	}
}

// listDays answers a time window from the day views: it lists the view of
// each day from the day of q.To (or of the newest job) down to the day of
// q.From, newest first, which gives the all view's order, and keeps the
// jobs of q.State (from the entry names) and q.Name. It costs one listing
// per day (a day's names are listed from its start: no listing skips
// names newer than the window), and stops with a continuation token after
// maxEmptyDays days in a row, or maxMissedDays in all, without a job.
func (x *Index) listDays(ctx context.Context, q Query, limit int, cur cursor) (*Page, error) {
	page := &Page{Jobs: []api.JobSummary{}}
	var day int64
	switch {
	case cur.Day != "":
		d, err := parseDay(cur.Day)
		if err != nil {
			return nil, fmt.Errorf("%w: malformed continuation token: %w", ErrBadQuery, err)
		}
		day = d
	case cur.After != "":
		// a token of the all or state view (written before the day views
		// were complete): resume after its name, in the day of its end
		e, err := parseEntry(cur.After)
		if err != nil {
			return nil, fmt.Errorf("%w: malformed continuation token: %w", ErrBadQuery, err)
		}
		day, cur.Page = dayOf(e.Ended), nil
	case !q.To.IsZero():
		day = dayOf(q.To)
	default: // from the newest job on
		newest, ok, err := x.newest(ctx)
		if err != nil || !ok {
			return page, err
		}
		day = dayOf(newest)
	}
	skipTo := ""
	if !q.To.IsZero() { // names before this one ended after To
		skipTo = invertedEnd(q.To)
	}
	stopAt := invertedEnd(q.From) + "~" // names after this one ended before From
	match := matcher(q.Name, q.State)
	batch := limit + 1
	if q.Name != "" || q.State != "" {
		batch = filterPage
	}
	var resume cursor
	var more, done bool
	empty, missed := 0, 0
	for from := dayOf(q.From); day >= from && !more && !done; day -= dayMillis {
		if empty == maxEmptyDays || missed == maxMissedDays {
			resume, more = cursor{Day: dayName(day)}, true
			break
		}
		c := cursor{After: max(cur.After, skipTo), Page: cur.Page}
		cur = cursor{}
		name, rows := dayName(day), 0
		err := x.scan.scan(ctx, dayView(day), c, batch, func(n string, next cursor) bool {
			if n > stopAt {
				done = true
				return false
			}
			e, err := parseEntry(n)
			if err != nil || !match(e) {
				return true
			}
			if len(page.Jobs) == limit {
				more = true
				return false
			}
			page.Jobs = append(page.Jobs, e.summary())
			rows++
			resume = next
			resume.Day = name
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("list archived jobs: %w", err)
		}
		if rows > 0 {
			empty = 0
		} else {
			empty++
			missed++
		}
		if day < dayMillis {
			break // the first day an entry holds
		}
	}
	if more {
		page.Next = encodeCursor(resume)
	}
	return page, nil
}

// newest returns the end time of the newest archived job: the first name
// of the all view.
func (x *Index) newest(ctx context.Context) (time.Time, bool, error) {
	var t time.Time
	var ok bool
	err := x.scan.scan(ctx, allView, cursor{}, 1, func(n string, _ cursor) bool {
		e, err := parseEntry(n)
		if err != nil {
			return true
		}
		t, ok = e.Ended, true
		return false
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("list archived jobs: newest: %w", err)
	}
	return t, ok, nil
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
