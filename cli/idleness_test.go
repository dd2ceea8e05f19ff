package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// idleEvents is the one small input file: one split, so a continuous files
// source at parallelism 2 leaves one subtask without data for good. With
// no out-of-orderness the watermark reaches 99: every window of a and b
// fires, [100,110) does not.
const idleEvents = "a,1\na,5\nb,3\na,12\nb,15\na,25\na,100\n"

// idleSpec is a continuous job over in: an event-time tumbling count per
// key. With tee, the source also writes its records to a second sink, so
// that its forward edge to parse is not chained: parse then runs in tasks
// of its own, and one of them has only the idle source subtask as input.
func idleSpec(in, idleTimeout string, tee bool) map[string]any {
	et := map[string]any{"timestamp": `int(split(line, ",")[1])`, "maxOutOfOrderness": "0ms", "perRecord": true}
	if idleTimeout != "" {
		et["idleTimeout"] = idleTimeout
	}
	vertices := []map[string]any{
		{"id": "events", "operator": "files", "eventTime": et,
			"config": map[string]any{"bucket": "file://" + in, "prefix": "", "continuous": true, "discoverInterval": "100ms"}},
		{"id": "parse", "operator": "map", "config": map[string]any{"set": map[string]any{"k": `split(line, ",")[0]`}}},
		{"id": "win", "operator": "window", "config": map[string]any{"type": "tumbling", "size": "10ms", "aggregate": "count"}},
		{"id": "out", "operator": "files", "config": map[string]any{"prefix": "win/{job}/", "format": "jsonl"}},
	}
	edges := []map[string]any{
		{"from": "events", "to": "parse"},
		{"from": "parse", "to": "win", "partitioning": "hash", "key": "k"},
		{"from": "win", "to": "out"},
	}
	if tee {
		vertices = append(vertices, map[string]any{"id": "raw", "operator": "files", "config": map[string]any{"prefix": "raw/{job}/", "format": "text", "fields": []string{"line"}}})
		edges = append(edges, map[string]any{"from": "events", "to": "raw"})
	}
	return map[string]any{
		"defaults":      map[string]any{"parallelism": 2},
		"checkpointing": map[string]any{"interval": "100ms"},
		"vertices":      vertices,
		"edges":         edges,
	}
}

// committedWindows returns the windows the job has committed, sorted.
func (c *testCluster) committedWindows(t *testing.T, id string) []string {
	t.Helper()
	var got []string
	for _, row := range readJSONLines(t, filepath.Join(c.DataDir, "bucket", "win", id)) {
		got = append(got, fmt.Sprintf("%s [%v,%v) %v", row["k"], row["windowStart"], row["windowEnd"], row["value"]))
	}
	sort.Strings(got)
	return got
}

// cancelJob cancels a job and waits until it is CANCELED.
func (c *testCluster) cancelJob(t *testing.T, id string) {
	t.Helper()
	if _, err := c.client.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	c.waitJob(t, id, time.Minute, api.JobCanceled)
}

// TestSourceIdleness runs a continuous job in which one source subtask
// never gets data: event-time windows downstream fire only because the
// idle subtask stops holding the watermark back once its idleTimeout
// passes. The windows fire, with exact counts, whether the idle subtask's
// parse runs chained to it or in a task of its own (whose only input is
// idle, so the task itself must pass the idleness on). Without
// idleTimeout nothing fires within the same time, although every record
// has reached the windows.
func TestSourceIdleness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	c := startTestCluster(t)
	in := t.TempDir()
	if err := os.WriteFile(filepath.Join(in, "events.txt"), []byte(idleEvents), 0o644); err != nil {
		t.Fatal(err)
	}
	idleWindows := []string{"a [0,10) 2", "a [10,20) 1", "a [20,30) 1", "b [0,10) 1", "b [10,20) 1"}
	var took time.Duration // the longest time the windows took to fire
	for _, tc := range []struct {
		name string
		tee  bool
	}{{"chained", false}, {"unchained", true}} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			id := c.submit(t, idleSpec(in, "300ms", tc.tee))
			var got []string
			waitFor(t, time.Minute, "the windows to fire", func() bool {
				got = c.committedWindows(t, id)
				return len(got) >= len(idleWindows)
			})
			took = max(took, time.Since(start))
			c.cancelJob(t, id)
			if got := c.committedWindows(t, id); strings.Join(got, "; ") != strings.Join(idleWindows, "; ") {
				t.Errorf("windows:\n got %v\nwant %v", got, idleWindows)
			}
		})
	}

	t.Run("without idleTimeout", func(t *testing.T) {
		start := time.Now()
		id := c.submit(t, idleSpec(in, "", false))
		// Every record has reached the windows once a checkpoint taken after
		// the last one was read has completed (the barrier follows the
		// records on every channel), and what the windows emitted before
		// it is committed once the next checkpoint has completed.
		var read int64
		waitFor(t, time.Minute, "every record read and a checkpoint since, for as long as the windows took with idleness", func() bool {
			j, err := c.client.Job(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State.Terminal() {
				t.Fatalf("job ended: %s %s", j.State, j.Error)
			}
			cs := j.Checkpoints
			if cs == nil || cs.LastEventTime == nil {
				return false
			}
			if read == 0 && *cs.LastEventTime == 100 {
				read = cs.LatestID
			}
			return read != 0 && cs.LatestID > read && time.Since(start) >= took
		})
		if got := c.committedWindows(t, id); len(got) != 0 {
			t.Errorf("windows fired without idleness: %v", got)
		}
		c.cancelJob(t, id)
		if got := c.committedWindows(t, id); len(got) != 0 {
			t.Errorf("windows fired without idleness: %v", got)
		}
	})
}
