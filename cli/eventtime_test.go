package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// TestEventTimeWindows feeds out-of-order records with event times through
// tumbling, sliding and session windows, with punctuated watermarks so the
// outcome is exact: the windows fired, their counts, and the late records
// (counted, and sent to a side output).
func TestEventTimeWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	c := startTestCluster(t)
	for _, tc := range []struct {
		name   string
		window map[string]any
		delay  string
		input  string // key,ts per line, in arrival order
		want   []string
		late   []string
	}{
		{
			name:   "tumbling",
			window: map[string]any{"type": "tumbling", "size": "10ms"},
			delay:  "5ms",
			input:  "a,1\na,5\nb,3\na,12\na,7\nb,15\na,8\na,25\na,18\n",
			want:   []string{"a [0,10) 3", "a [10,20) 1", "a [20,30) 1", "b [0,10) 1", "b [10,20) 1"},
			late:   []string{"a,18", "a,8"},
		},
		{
			name:   "sliding",
			window: map[string]any{"type": "sliding", "size": "10ms", "slide": "5ms"},
			delay:  "0ms",
			input:  "a,1\na,6\na,12\na,3\n",
			want:   []string{"a [-5,5) 1", "a [0,10) 2", "a [10,20) 1", "a [5,15) 2"},
			late:   []string{"a,3"},
		},
		{
			name:   "session",
			window: map[string]any{"type": "session", "gap": "5ms"},
			delay:  "0ms",
			input:  "a,1\na,3\na,10\na,2\na,12\nb,4\n",
			want:   []string{"a [1,8) 2", "a [10,17) 2"},
			late:   []string{"a,2", "b,4"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := t.TempDir()
			if err := os.WriteFile(filepath.Join(in, "events.txt"), []byte(tc.input), 0o644); err != nil {
				t.Fatal(err)
			}
			win := map[string]any{"aggregate": "count", "lateOutput": "late"}
			for k, v := range tc.window {
				win[k] = v
			}
			id := c.submit(t, map[string]any{
				"vertices": []map[string]any{
					{"id": "events", "operator": "files", "config": map[string]any{"bucket": "file://" + in, "prefix": ""},
						"eventTime": map[string]any{"timestamp": `int(split(line, ",")[1])`, "maxOutOfOrderness": tc.delay, "perRecord": true}},
					{"id": "parse", "operator": "map", "config": map[string]any{"set": map[string]any{"k": `split(line, ",")[0]`}}},
					{"id": "win", "operator": "window", "config": win},
					{"id": "out", "operator": "files", "config": map[string]any{"prefix": "win/{job}/", "format": "jsonl"}},
					{"id": "lateOut", "operator": "files", "config": map[string]any{"prefix": "late/{job}/", "format": "jsonl"}},
				},
				"edges": []map[string]any{
					{"from": "events", "to": "parse"},
					{"from": "parse", "to": "win", "partitioning": "hash", "key": "k"},
					{"from": "win", "to": "out"},
					{"from": "win", "to": "lateOut", "output": "late"},
				},
			})
			job := c.waitJob(t, id, time.Minute, api.JobFinished, api.JobFailed)
			if job.State != api.JobFinished {
				t.Fatalf("job %s: %s", job.State, job.Error)
			}
			var got []string
			for _, row := range readJSONLines(t, filepath.Join(c.DataDir, "bucket", "win", id)) {
				got = append(got, fmt.Sprintf("%s [%v,%v) %v", row["k"], row["windowStart"], row["windowEnd"], row["value"]))
			}
			sort.Strings(got)
			if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
				t.Errorf("windows:\n got %v\nwant %v", got, tc.want)
			}
			var late []string
			for _, row := range readJSONLines(t, filepath.Join(c.DataDir, "bucket", "late", id)) {
				late = append(late, fmt.Sprint(row["line"]))
			}
			sort.Strings(late)
			if strings.Join(late, "; ") != strings.Join(tc.late, "; ") {
				t.Errorf("late records:\n got %v\nwant %v", late, tc.late)
			}
			var counted int64
			for _, v := range job.Vertices {
				if v.ID == "win" {
					counted = v.Metrics.Counters["lateRecords"]
				}
			}
			if counted != int64(len(tc.late)) {
				t.Errorf("lateRecords counter = %d, want %d", counted, len(tc.late))
			}
		})
	}
}
