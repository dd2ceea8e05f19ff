package archive

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
)

// markDaysComplete runs the leader's sweep on x: Archived, then Repair,
// which writes DayIndexComplete.
func markDaysComplete(t *testing.T, x *Index) {
	t.Helper()
	ctx := context.Background()
	archived, err := x.Archived(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Repair(ctx, archived); err != nil {
		t.Fatal(err)
	}
	if ok, err := x.b.Exists(ctx, DayIndexComplete); err != nil || !ok {
		t.Fatalf("%s after the repair: %v, %v", DayIndexComplete, ok, err)
	}
}

// writeArchives writes archives 8 at a time.
func writeArchives(t *testing.T, b *blobstate.Bucket, as []*Archive) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(as))
	sem := make(chan struct{}, 8)
	for i, a := range as {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = Write(context.Background(), b, a)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// pageOf is what a page shows: its ids and whether it has a token.
func pageOf(p *Page) string { return fmt.Sprintf("%s next=%v", ids(p.Jobs), p.Next != "") }

// pagesOf follows q's tokens to the end (at most 500 pages) and returns
// each page and its token.
func pagesOf(t *testing.T, x *Index, q Query) ([]string, []string) {
	t.Helper()
	var pages, tokens []string
	for len(pages) < 500 {
		p, err := x.List(context.Background(), q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		pages, tokens = append(pages, pageOf(p)), append(tokens, p.Next)
		if p.Next == "" {
			return pages, tokens
		}
		q.Next = p.Next
	}
	t.Fatalf("List(%+v): no end of pages", q)
	return nil, nil
}

// TestListDaysMatchesFullScan: a time window listed from the day views
// gives the pages that the scan of the all and state views gives, and a
// token of that scan goes on in the day views.
func TestListDaysMatchesFullScan(t *testing.T) {
	forEachBucket(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		newest := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		day := func(d int) time.Time { return newest.Truncate(24*time.Hour).AddDate(0, 0, -d) }
		rng := rand.New(rand.NewPCG(7, 9))
		states := []api.JobState{api.JobFinished, api.JobFinished, api.JobCanceled, api.JobFailed}
		names := []string{"wordcount", "keyed-sum", "Word Count (nightly)", "événements"}
		var as []*Archive
		ended := newest
		for i := 0; len(as) < 300; i++ {
			ended = ended.Add(-time.Duration(rng.IntN(int(16*time.Hour/time.Millisecond))) * time.Millisecond)
			d := int(day(0).Sub(ended.Truncate(24*time.Hour)) / (24 * time.Hour))
			if (d >= 40 && d < 50) || (d >= 80 && d < 105) {
				continue // gaps of 10 and 25 days without jobs
			}
			at := ended
			switch i % 37 {
			case 5: // ties: the same end as the job before
				at = as[len(as)-1].Job.EndedAt.Add(0)
			case 11: // at midnight, and just before
				at = ended.Truncate(24 * time.Hour)
			case 12:
				at = ended.Truncate(24 * time.Hour).Add(-time.Millisecond)
			}
			as = append(as, testArchive(t, fmt.Sprintf("%016x", 5000+i), names[i%len(names)], states[rng.IntN(len(states))], at))
		}
		writeArchives(t, b, as)
		oldest := *as[len(as)-1].Job.EndedAt
		t.Logf("%d jobs from %s to %s", len(as), oldest, newest)

		queries := []Query{
			{Limit: 7, From: day(3), To: day(2)},
			{Limit: 7, From: day(3).Add(5 * time.Hour), To: day(2).Add(13 * time.Hour)},
			{Limit: 1, From: day(1), To: day(0)},
			{Limit: 50, From: day(30), To: day(10)},
			{Limit: 13, From: day(60), To: day(35)},             // across the 10-day gap
			{Limit: 13, From: day(110), To: day(70)},            // across the 25-day gap
			{Limit: 9, From: day(100), To: day(90)},             // in the gap
			{Limit: 50, From: oldest.Add(-20 * 24 * time.Hour)}, // from only: from the newest job
			{Limit: 1000, From: oldest, To: newest.Add(time.Hour)},
			{Limit: 10, From: day(20), To: day(25)}, // from after to
			{Limit: 5, From: day(40), To: day(5), State: api.JobFailed},
			{Limit: 4, From: day(40), To: day(5), Name: "word"},
			{Limit: 3, From: day(30), To: day(1), Name: "nothing like it"},
			{Limit: 6, From: oldest, To: oldest.Add(36 * time.Hour), State: api.JobCanceled, Name: "sum"},
			{Limit: 7, From: *as[100].Job.EndedAt, To: *as[40].Job.EndedAt}, // bounds on jobs
		}
		x := NewIndex(b)
		scanned := make([][]string, len(queries))
		scanTokens := make([][]string, len(queries))
		for i, q := range queries {
			scanned[i], scanTokens[i] = pagesOf(t, x, q)
		}
		// the archives written before the day views: no day entries, no
		// DayIndexComplete (here only for some, so that Repair has work)
		for _, a := range as[:50] {
			e, err := entryOf(a.Job)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, e.keys()[2]); err != nil {
				t.Fatal(err)
			}
		}
		for i, q := range queries {
			if got, _ := pagesOf(t, x, q); strings.Join(got, "\n") != strings.Join(scanned[i], "\n") {
				t.Fatalf("query %d before the repair: pages\n%s\nwant\n%s", i, strings.Join(got, "\n"), strings.Join(scanned[i], "\n"))
			}
		}
		markDaysComplete(t, x)
		for i, q := range queries {
			got, tokens := pagesOf(t, x, q)
			if strings.Join(got, "\n") != strings.Join(scanned[i], "\n") {
				t.Errorf("query %d %+v: day views give pages\n%s\nthe scan\n%s", i, q, strings.Join(got, "\n"), strings.Join(scanned[i], "\n"))
				continue
			}
			if len(tokens) > 1 {
				if c, err := decodeCursor(tokens[0]); err != nil || c.Day == "" {
					t.Errorf("query %d: token %+v, %v: not of the day views", i, c, err)
				}
				// a token of the scan, from before the day views were complete
				q.Next = scanTokens[i][0]
				rest, _ := pagesOf(t, x, q)
				if strings.Join(rest, "\n") != strings.Join(scanned[i][1:], "\n") {
					t.Errorf("query %d from the scan's token: pages\n%s\nwant\n%s", i, strings.Join(rest, "\n"), strings.Join(scanned[i][1:], "\n"))
				}
			}
		}
	})
}

// TestListDaysBoundsEmptyDays: a window of years with few jobs lists at
// most maxEmptyDays days in a row without a job per page, and its pages, followed
// to the end, hold what the scan holds.
func TestListDaysBoundsEmptyDays(t *testing.T) {
	forEachBucket(t, func(t *testing.T, b *blobstate.Bucket) {
		newest := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		var as []*Archive
		for i, d := range []int{0, 0, 1, 100, 101, 400, 1000} {
			as = append(as, testArchive(t, fmt.Sprintf("%016x", 7000+i), "sparse", api.JobFinished, newest.AddDate(0, 0, -d).Add(-time.Duration(i)*time.Minute)))
		}
		writeArchives(t, b, as)
		x := NewIndex(b)
		q := Query{Limit: 2, From: newest.AddDate(-3, 0, 0), To: newest}
		want, _ := listAll(t, x, q)
		if len(want) != len(as) {
			t.Fatalf("the scan found %d jobs, want %d", len(want), len(as))
		}
		markDaysComplete(t, x)
		var got []api.JobSummary
		requests := 0
		for {
			requests++
			start := time.Now()
			p, err := x.List(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("request %d took %s", requests, took)
			}
			got = append(got, p.Jobs...)
			if p.Next == "" || requests > 200 {
				break
			}
			q.Next = p.Next
		}
		if ids(got) != ids(want) {
			t.Errorf("got %s, want %s", ids(got), ids(want))
		}
		// 1,096 days, at least 31 per request that finds nothing, at most
		// 31 in a row
		if maxRequests := 1096/maxEmptyDays + 4 + len(as); requests > maxRequests {
			t.Errorf("%d requests, want at most %d", requests, maxRequests)
		}
		if requests < 1096/(maxEmptyDays+len(as)) {
			t.Errorf("%d requests: more than %d empty days per request", requests, maxEmptyDays)
		}
	})
}
