package archive

import (
	"context"
	"encoding/json"
	"errors"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
)

// TestWritersRaceForOneJob is an old and a new leader (and more) archiving
// the same job at once: exactly one archive and one entry per view.
func TestWritersRaceForOneJob(t *testing.T) {
	forEachBucket(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		ended := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		for round := range 5 {
			id := "0000000000000ab" + string(rune('0'+round))
			const writers = 8
			var wg sync.WaitGroup
			won := make([]bool, writers)
			errs := make([]error, writers)
			candidates := make([]*Archive, writers)
			for w := range writers {
				// each writer builds its own archive: same job, another
				// moment (live figures may differ between leaders too)
				candidates[w] = testArchive(t, id, "race", api.JobFailed, ended)
				candidates[w].ArchivedAt = ended.Add(time.Duration(w) * time.Millisecond)
				wg.Go(func() { won[w], errs[w] = Write(ctx, b, candidates[w]) })
			}
			wg.Wait()
			winners := 0
			var winner *Archive
			for w := range writers {
				if errs[w] != nil {
					t.Fatalf("writer %d: %v", w, errs[w])
				}
				if won[w] {
					winners++
					winner = candidates[w]
				}
			}
			if winners != 1 {
				t.Fatalf("round %d: %d writers say they wrote the archive, want 1", round, winners)
			}
			got, err := NewIndex(b).Read(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !got.ArchivedAt.Equal(winner.ArchivedAt) {
				t.Errorf("the archive holds writer's %v, the winner wrote %v", got.ArchivedAt, winner.ArchivedAt)
			}
			objs, err := b.List(ctx, Prefix, "")
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			for _, o := range objs {
				e, err := parseEntry(path.Base(o.Key))
				switch {
				case o.Key == Key(id):
					count["archive"]++
				case err != nil || e.ID != id:
				case strings.HasPrefix(o.Key, allView):
					count["all"]++
				case strings.HasPrefix(o.Key, stateView(api.JobFailed)):
					count["state"]++
				case strings.HasPrefix(o.Key, dayView(dayOf(ended))):
					count["day"]++
				default:
					t.Errorf("unexpected object %s", o.Key)
				}
			}
			if count["archive"] != 1 || count["all"] != 1 || count["state"] != 1 || count["day"] != 1 {
				t.Errorf("round %d: objects %v, want one archive and one entry in each of three views", round, count)
			}
		}
	})
}

// TestRepairIndexesArchivesWithoutEntries: a coordinator stopped after
// writing archives and before their index entries; the sweep's Repair
// writes the entries, and Archived finds every archive.
func TestRepairIndexesArchivesWithoutEntries(t *testing.T) {
	forEachBucket(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		want := writeJobs(t, b, 3, base)
		// two more archives, written without their entries
		var orphans []string
		for i, st := range []api.JobState{api.JobCanceled, api.JobFinished} {
			a := testArchive(t, "00000000000000f"+string(rune('0'+i)), "orphan", st, base.Add(time.Hour+time.Duration(i)*time.Second))
			data, _ := json.Marshal(a)
			if err := b.WriteOnce(ctx, Key(a.Job.ID), data); err != nil {
				t.Fatal(err)
			}
			orphans = append(orphans, a.Job.ID)
			want = append([]api.JobSummary{a.Job}, want...)
		}
		// and one archived by a version without day views: no day entry
		old := testArchive(t, "00000000000000e0", "old", api.JobFinished, base.Add(-48*time.Hour))
		if _, err := Write(ctx, b, old); err != nil {
			t.Fatal(err)
		}
		e, err := entryOf(old.Job)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, e.keys()[2]); err != nil {
			t.Fatal(err)
		}
		want = append(want, old.Job)
		x := NewIndex(b)
		page, err := x.List(ctx, Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Jobs) != 4 {
			t.Fatalf("%d jobs listed before the repair, want 4", len(page.Jobs))
		}
		archived, err := x.Archived(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(archived) != 6 {
			t.Fatalf("Archived found %v, want 6 jobs", archived)
		}
		if ok, err := b.Exists(ctx, DayIndexComplete); err != nil || ok {
			t.Fatalf("%s before the repair: %v, %v", DayIndexComplete, ok, err)
		}
		repaired, err := x.Repair(ctx, archived)
		if err != nil {
			t.Fatal(err)
		}
		if len(repaired) != 3 {
			t.Errorf("repaired %v, want %v and %s", repaired, orphans, old.Job.ID)
		}
		if ok, err := b.Exists(ctx, DayIndexComplete); err != nil || !ok {
			t.Errorf("%s after the repair: %v, %v", DayIndexComplete, ok, err)
		}
		// the day views now answer time windows, the old job's too
		page, err = x.List(ctx, Query{From: base.Add(-72 * time.Hour), To: base.Add(2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if got, wantIDs := ids(page.Jobs), ids(want); got != wantIDs {
			t.Errorf("time window after the repair: %s, want %s", got, wantIDs)
		}
		page, err = x.List(ctx, Query{})
		if err != nil {
			t.Fatal(err)
		}
		if got, wantIDs := ids(page.Jobs), ids(want); got != wantIDs {
			t.Errorf("after the repair: %s, want %s", got, wantIDs)
		}
		// a second sweep finds nothing to do
		if repaired, err := x.Repair(ctx, archived); err != nil || len(repaired) != 0 {
			t.Errorf("second repair: %v, %v", repaired, err)
		}
	})
}

func TestReadMissingArchive(t *testing.T) {
	b, err := blobstate.OpenBucket(context.Background(), "mem://", blobstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, id := range []string{"0000000000000001", "../etc", "a_b"} {
		if _, err := NewIndex(b).Read(context.Background(), id); !errors.Is(err, blobstate.ErrNotFound) {
			t.Errorf("Read(%q): %v, want ErrNotFound", id, err)
		}
	}
}
