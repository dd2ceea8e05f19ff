package archive

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

func TestEntryRoundTrip(t *testing.T) {
	ended := time.Date(2026, 11, 27, 10, 0, 0, 123_456_789, time.UTC)
	for _, tc := range []struct {
		name, jobName string
		wantTruncated bool
	}{
		{"plain", "wordcount", false},
		{"empty", "", false},
		{"spaces and punctuation", "Word Count (nightly) #3 _x_ ~y~ 100%", false},
		{"unicode", "événements 日本", false},
		{"dots and attrs", "out.attrs", false},
		{"long", strings.Repeat("ab", 200), true},
		{"long unicode", strings.Repeat("é", 100), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := entryOf(api.JobSummary{ID: "00ab12cd34ef5678", Name: tc.jobName, State: api.JobFailed, SubmittedAt: ended.Add(-time.Hour), EndedAt: &ended})
			if err != nil {
				t.Fatal(err)
			}
			n := e.name()
			if len(n) > 255 {
				t.Errorf("entry name is %d bytes, longer than a file name may be", len(n))
			}
			got, err := parseEntry(n)
			if err != nil {
				t.Fatal(err)
			}
			if got.Truncated != tc.wantTruncated {
				t.Errorf("truncated %v, want %v", got.Truncated, tc.wantTruncated)
			}
			if !tc.wantTruncated && got.Name != tc.jobName {
				t.Errorf("name %q, want %q", got.Name, tc.jobName)
			}
			if tc.wantTruncated && !strings.HasPrefix(tc.jobName, got.Name) {
				t.Errorf("truncated name %q is not a prefix of %q", got.Name, tc.jobName)
			}
			if !got.Ended.Equal(ended.Truncate(time.Millisecond)) || !got.Submitted.Equal(ended.Add(-time.Hour).Truncate(time.Millisecond)) {
				t.Errorf("times %v %v", got.Submitted, got.Ended)
			}
			if got.ID != e.ID || got.State != api.JobFailed {
				t.Errorf("got %+v", got)
			}
			for _, k := range e.keys() {
				if strings.ContainsAny(k, `\"#%?`) || strings.Contains(k, "__0x") || strings.HasSuffix(k, ".attrs") {
					t.Errorf("key %q is not a valid object key", k)
				}
			}
		})
	}
}

func TestEntryOrderIsNewestFirst(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var names []string
	for i, d := range []time.Duration{0, time.Millisecond, time.Second, time.Hour, 24 * 365 * time.Hour} {
		ended := base.Add(d)
		e, err := entryOf(api.JobSummary{ID: strings.Repeat(string(rune('a'+i)), 16), State: api.JobFinished, SubmittedAt: base, EndedAt: &ended})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.name())
	}
	sorted := append([]string(nil), names...)
	sort.Sort(sort.Reverse(sort.StringSlice(sorted)))
	for i := range names {
		if names[i] != sorted[i] {
			t.Fatalf("key order is not newest first:\n%s", strings.Join(sorted, "\n"))
		}
	}
}

func TestEntryRejects(t *testing.T) {
	now := time.Now()
	for _, s := range []api.JobSummary{
		{ID: "bad_id", State: api.JobFinished, EndedAt: &now},
		{ID: "abc", State: api.JobRunning, EndedAt: &now},
		{ID: "abc", State: api.JobFinished},
	} {
		if _, err := entryOf(s); err == nil {
			t.Errorf("entryOf(%+v) succeeded", s)
		}
	}
	for _, n := range []string{"", "x", "0000000000001_abc_FINISHED_0000000000001", "000000000000x_abc_FINISHED_0000000000001_n",
		"0000000000001_abc_RUNNING_0000000000001_n", "0000000000001_abc_FAILED_0000000000001_~4"} {
		if _, err := parseEntry(n); err == nil {
			t.Errorf("parseEntry(%q) succeeded", n)
		}
	}
}

// FuzzParseEntry: the index decoder never panics, and what it accepts
// encodes back to a name that parses to the same entry.
func FuzzParseEntry(f *testing.F) {
	ended := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	e, _ := entryOf(api.JobSummary{ID: "00ab12cd34ef5678", Name: "Word Count ~ é", State: api.JobCanceled, SubmittedAt: ended, EndedAt: &ended})
	f.Add(e.name())
	f.Add("0000000000001_abc_FINISHED_0000000000001_~~")
	f.Fuzz(func(t *testing.T, name string) {
		e, err := parseEntry(name)
		if err != nil {
			return
		}
		again, err := parseEntry(e.name())
		if err != nil {
			t.Fatalf("re-encoded %q: %v", e.name(), err)
		}
		if again.ID != e.ID || again.State != e.State || !again.Ended.Equal(e.Ended) || (!e.Truncated && again.Name != e.Name) {
			t.Fatalf("round trip of %q: %+v != %+v", name, again, e)
		}
	})
}
