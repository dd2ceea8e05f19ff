// Command history is the history server benchmark: it archives -jobs ended
// jobs (10,000 by default) in a file:// bucket and in Azurite, starts a
// history server on each, and measures the job list's latency over HTTP:
// the first page of GET /v1/jobs?limit=50, later pages (following the
// continuation tokens deep into the list), and pages filtered by state,
// name and end time, plus a job page. It prints p50, p99 and the maximum
// of -requests requests per case (a fifth as many for the cases that look
// at every name), as a Markdown table.
//
// The archives are realistic (a 4-vertex spec and plan, per-vertex
// metrics, subtasks, executors, a checkpoint history and, for failed jobs,
// exceptions), written with archive.Write as the coordinator writes them:
// the archive and its index entries, each create-if-absent; then the
// leader's sweep (Index.Archived, Index.Repair) marks the day views
// complete, so that time windows list the day views.
//
// Azurite is the one of SLUICE_TEST_AZURITE (make test's), or one that the
// benchmark starts from node_modules/.bin (run `npm ci` first).
//
//	go run ./bench/history [-jobs 10000] [-requests 200] [-backends file,azurite]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/blobstate/blobstatetest"
)

func main() {
	jobs := flag.Int("jobs", 10000, "archived jobs to generate")
	requests := flag.Int("requests", 200, "requests per case")
	backends := flag.String("backends", "file,azurite", "comma-separated: file, azurite")
	dir := flag.String("dir", ".sluice/bench/history", "work directory for the file:// bucket")
	writers := flag.Int("writers", 8, "archives written at once while generating")
	flag.Parse()
	ctx := context.Background()
	var all []result
	for _, be := range strings.Split(*backends, ",") {
		b, cleanup, err := open(ctx, strings.TrimSpace(be), *dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/history:", err)
			os.Exit(1)
		}
		res, err := bench(ctx, be, b, *jobs, *requests, *writers)
		cleanup()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/history:", err)
			os.Exit(1)
		}
		all = append(all, res...)
	}
	report(all, *jobs)
}

func open(ctx context.Context, backend, dir string) (*blobstate.Bucket, func(), error) {
	switch backend {
	case "file":
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, err
		}
		tmp, err := os.MkdirTemp(dir, "bucket-")
		if err != nil {
			return nil, nil, err
		}
		abs, _ := filepath.Abs(tmp)
		b, err := blobstate.OpenBucket(ctx, abs, blobstate.Options{})
		if err != nil {
			return nil, nil, err
		}
		return b, func() { b.Close(); os.RemoveAll(abs) }, nil
	case "azurite":
		return blobstatetest.OpenContainer(ctx, "bench-history")
	}
	return nil, nil, fmt.Errorf("unknown backend %q (file, azurite)", backend)
}

func report(rs []result, jobs int) {
	fmt.Printf("\n%d archived jobs, one client with keep-alive\n\n", jobs)
	fmt.Println("| bucket | case | requests | p50 | p99 | max |")
	fmt.Println("|---|---|---:|---:|---:|---:|")
	for _, r := range rs {
		fmt.Printf("| %s | %s | %d | %s | %s | %s |\n", r.backend, r.name, r.n, ms(r.p50), ms(r.p99), ms(r.max))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
