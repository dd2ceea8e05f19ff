package archive

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
)

func ids(jobs []api.JobSummary) string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return strings.Join(out, ",")
}

// listAll follows the continuation tokens of q to the end.
func listAll(t *testing.T, x *Index, q Query) ([]api.JobSummary, int) {
	t.Helper()
	var all []api.JobSummary
	pages := 0
	for {
		page, err := x.List(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Jobs) > max(q.Limit, 1) {
			t.Fatalf("page of %d jobs, limit %d", len(page.Jobs), q.Limit)
		}
		all = append(all, page.Jobs...)
		if page.Next == "" {
			return all, pages
		}
		if len(page.Jobs) == 0 {
			t.Fatal("an empty page with a continuation token")
		}
		q.Next = page.Next
		if pages > 1000 {
			t.Fatal("no end of pages")
		}
	}
}

// TestListPagesAndFilters checks every filter, paged, against the same
// filter applied to the whole list: first with the all and state views
// only, then with the day views too, once the sweep's Repair has marked
// them complete.
func TestListPagesAndFilters(t *testing.T) {
	forEachBucket(t, func(t *testing.T, b *blobstate.Bucket) {
		base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		all := writeJobs(t, b, 45, base)
		x := NewIndex(b)
		at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
		for _, mode := range []string{"views", "days"} {
			if mode == "days" {
				markDaysComplete(t, x)
			}
			t.Run(mode, func(t *testing.T) { checkFilters(t, x, all, at) })
		}
	})
}

func checkFilters(t *testing.T, x *Index, all []api.JobSummary, at func(int) time.Time) {
	for _, tc := range []struct {
		name string
		q    Query
		keep func(api.JobSummary) bool
	}{
		{"all", Query{Limit: 7}, func(api.JobSummary) bool { return true }},
		{"all in one page", Query{Limit: 100}, func(api.JobSummary) bool { return true }},
		{"failed", Query{Limit: 4, State: api.JobFailed}, func(j api.JobSummary) bool { return j.State == api.JobFailed }},
		{"canceled, lower case", Query{Limit: 5, State: "CANCELED"}, func(j api.JobSummary) bool { return j.State == api.JobCanceled }},
		{"name", Query{Limit: 3, Name: "WORD"}, func(j api.JobSummary) bool { return strings.Contains(strings.ToLower(j.Name), "word") }},
		{"unicode name", Query{Limit: 3, Name: "évé"}, func(j api.JobSummary) bool { return strings.Contains(j.Name, "évé") }},
		{"no match", Query{Limit: 3, Name: "nothing like it"}, func(api.JobSummary) bool { return false }},
		{"from", Query{Limit: 6, From: at(30)}, func(j api.JobSummary) bool { return !j.EndedAt.Before(at(30)) }},
		{"to", Query{Limit: 6, To: at(10)}, func(j api.JobSummary) bool { return !j.EndedAt.After(at(10)) }},
		{"from to state name", Query{Limit: 2, From: at(5), To: at(40), State: api.JobFinished, Name: "sum"}, func(j api.JobSummary) bool {
			return !j.EndedAt.Before(at(5)) && !j.EndedAt.After(at(40)) && j.State == api.JobFinished && strings.Contains(j.Name, "sum")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []api.JobSummary
			for _, j := range all {
				if tc.keep(j) {
					want = append(want, j)
				}
			}
			got, pages := listAll(t, x, tc.q)
			if ids(got) != ids(want) {
				t.Fatalf("got %d jobs:\n%s\nwant %d:\n%s", len(got), ids(got), len(want), ids(want))
			}
			if wantPages := max(1, (len(want)+tc.q.Limit-1)/tc.q.Limit); pages != wantPages {
				t.Errorf("%d pages for %d jobs at %d per page, want %d", pages, len(want), tc.q.Limit, wantPages)
			}
			for i, j := range got {
				w := want[i]
				if j.Name != w.Name || j.State != w.State || !j.EndedAt.Equal(*w.EndedAt) || !j.SubmittedAt.Equal(w.SubmittedAt) {
					t.Errorf("row %d: %+v, want %+v", i, j, w)
				}
			}
		})
	}
}

func TestListRejectsBadQueries(t *testing.T) {
	b, err := blobstate.OpenBucket(context.Background(), "mem://", blobstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	x := NewIndex(b)
	for _, q := range []Query{{State: api.JobRunning}, {Next: "%%%"}, {Next: "bm90IGpzb24"}} {
		if _, err := x.List(context.Background(), q); !errors.Is(err, ErrBadQuery) {
			t.Errorf("List(%+v): %v, want ErrBadQuery", q, err)
		}
	}
	page, err := x.List(context.Background(), Query{})
	if err != nil || len(page.Jobs) != 0 || page.Next != "" {
		t.Errorf("empty bucket: %+v, %v", page, err)
	}
}
