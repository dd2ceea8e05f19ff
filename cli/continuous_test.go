package cli

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// TestContinuousFilesSource watches a prefix: objects that appear while the
// job runs are read once each, also across a recovery (what was read is
// part of the checkpoints), and the exactly-once sink commits every line
// once.
func TestContinuousFilesSource(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	c := startTestCluster(t)
	in := t.TempDir()
	write := func(name string, n int) []string {
		var lines []string
		for i := 0; i < n; i++ {
			lines = append(lines, fmt.Sprintf("%s line %d", name, i))
		}
		tmp := filepath.Join(in, ".tmp-"+name)
		if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(in, name)); err != nil { // appears whole
			t.Fatal(err)
		}
		return lines
	}
	want := write("first.txt", 500)
	id := c.submit(t, map[string]any{
		"defaults":      map[string]any{"parallelism": 2},
		"checkpointing": map[string]any{"interval": "200ms"},
		"restart":       map[string]any{"strategy": "fixed-delay", "delay": "0s"},
		"vertices": []map[string]any{
			{"id": "watch", "operator": "files", "config": map[string]any{"bucket": "file://" + in, "prefix": "", "continuous": true, "discoverInterval": "100ms"}},
			{"id": "out", "operator": "files", "config": map[string]any{"prefix": "cont/{job}/", "format": "text", "fields": []string{"line"}}},
		},
		"edges": []map[string]any{{"from": "watch", "to": "out", "partitioning": "rebalance"}},
	})
	out := filepath.Join(c.DataDir, "bucket", "cont", id)
	committed := func() []string {
		var lines []string
		files, _ := filepath.Glob(filepath.Join(out, "part-*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if l != "" {
					lines = append(lines, l)
				}
			}
		}
		return lines
	}
	waitFor(t, time.Minute, "the first file committed", func() bool { return len(committed()) >= len(want) })
	want = append(want, write("second.txt", 700)...)
	waitFor(t, time.Minute, "the second file committed", func() bool { return len(committed()) >= len(want) })
	c.killRandomExecutor(t, id, rand.New(rand.NewPCG(9, 9)))
	waitFor(t, time.Minute, "recovery", func() bool {
		j, err := c.client.Job(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return len(j.Restarts) == 1 && j.State == api.JobRunning
	})
	want = append(want, write("third.txt", 300)...)
	waitFor(t, time.Minute, "the third file committed", func() bool { return len(committed()) >= len(want) })
	if _, err := c.client.Savepoint(t.Context(), id, true); err != nil {
		t.Fatal(err)
	}
	c.waitJob(t, id, time.Minute, api.JobCanceled)
	got := committed()
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("committed %d lines, want %d, each once", len(got), len(want))
	}
}
