// Command wordcount is the word count benchmark: one run measures, on the
// same generated corpus (about 100 MB by default),
//
//	(a) the hand-written single-process Go word count (bufio + map),
//	(b) Sluice at parallelism 1 and 2 (separate executor processes, hash
//	    shuffle, combiners), through a real `sluice local` and its HTTP API,
//
// and prints words/s for each with the ratio to (a), the time from submit
// to the first record processed (executor cold start), each executor's peak
// RSS, and whether Sluice's output equals the baseline's counts.
//
//	go run ./bench/wordcount [-bytes 100000000] [-runs 3] [-cpuprofile DIR]
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/corpus"
	"github.com/sluicehq/sluice/bench/localcluster"
	"github.com/sluicehq/sluice/coordinator/api"
)

func main() {
	size := flag.Int64("bytes", 100_000_000, "corpus size in bytes")
	files := flag.Int("files", 4, "corpus files")
	runs := flag.Int("runs", 3, "runs per configuration (the median is reported)")
	work := flag.String("dir", ".sluice/bench", "work directory (the corpus is cached there)")
	profile := flag.String("cpuprofile", "", "directory for executors' CPU profiles")
	pars := flag.String("p", "1,2", "Sluice parallelisms to measure")
	flag.Parse()
	if err := run(*size, *files, *runs, *work, *profile, *pars); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name      string
	wordsPerS float64
	dur       time.Duration
	coldStart time.Duration
	rss       []int64
}

func run(size int64, files, runs int, work, profile, pars string) error {
	work, _ = filepath.Abs(work)
	corpusDir := filepath.Join(work, fmt.Sprintf("corpus-%d", size))
	if err := ensureCorpus(corpusDir, size, files); err != nil {
		return err
	}

	// (a) the baseline
	var base []result
	var want map[string]int64
	var words int64
	for i := 0; i < runs; i++ {
		counts := map[string]int64{}
		start := time.Now()
		n, err := countDir(corpusDir, counts)
		if err != nil {
			return err
		}
		d := time.Since(start)
		base = append(base, result{name: "hand-written Go (1 process)", dur: d, wordsPerS: float64(n) / d.Seconds()})
		want, words = counts, n
	}
	fmt.Printf("corpus: %d bytes in %d files, %d words, %d distinct\n", size, files, words, len(want))

	// (b) Sluice
	bin, err := localcluster.Build(work)
	if err != nil {
		return err
	}
	var env []string
	if profile != "" {
		abs, _ := filepath.Abs(profile)
		_ = os.MkdirAll(abs, 0o755)
		env = append(env, "SLUICE_CPUPROFILE_DIR="+abs)
	}
	cl, err := localcluster.Start(bin, filepath.Join(work, "cluster"), env...)
	if err != nil {
		return err
	}
	defer cl.Stop()
	client := cl.Client

	results := []result{median(base)}
	for _, ps := range strings.Split(pars, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(ps))
		if err != nil {
			return fmt.Errorf("-p: %w", err)
		}
		var rs []result
		for i := 0; i < runs; i++ {
			r, err := runSluice(client, corpusDir, filepath.Join(work, "cluster", "bucket"), p, words, want)
			if err != nil {
				return err
			}
			rs = append(rs, r)
		}
		results = append(results, median(rs))
	}
	report(results)
	return nil
}

func ensureCorpus(dir string, size int64, files int) error {
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return nil
	}
	fmt.Fprintf(os.Stderr, "generating a %d MB corpus in %s...\n", size>>20, dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i < files; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("part-%02d.txt", i)))
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		err = corpus.Generate(w, corpus.Options{Seed: uint64(100 + i), Bytes: size / int64(files)})
		if err == nil {
			err = w.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}

func countDir(dir string, counts map[string]int64) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return 0, err
		}
		n, err := corpus.FastCount(f, counts)
		f.Close()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func runSluice(c *api.Client, corpusDir, bucketDir string, p int, words int64, want map[string]int64) (result, error) {
	spec := map[string]any{
		"name":     fmt.Sprintf("bench-wordcount-p%d", p),
		"defaults": map[string]any{"parallelism": p},
		"vertices": []map[string]any{
			{"id": "lines", "operator": "files", "config": map[string]any{"bucket": "file://" + corpusDir, "prefix": "", "splitSize": 4 << 20}},
			{"id": "words", "operator": "tokenize"},
			{"id": "count", "operator": "count"},
			{"id": "out", "operator": "files", "config": map[string]any{"prefix": "bench/{job}/", "format": "csv", "fields": []string{"word", "count"}}},
		},
		"edges": []map[string]any{
			{"from": "lines", "to": "words"},
			{"from": "words", "to": "count", "partitioning": "hash", "key": "word"},
			{"from": "count", "to": "out"},
		},
	}
	body, _ := json.Marshal(spec)
	ctx := context.Background()
	id, err := c.Submit(ctx, body, "application/json")
	if err != nil {
		return result{}, err
	}
	var job *api.Job
	for {
		job, err = c.Job(ctx, id)
		if err != nil {
			return result{}, err
		}
		if job.State.Terminal() {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if job.State != api.JobFinished {
		return result{}, fmt.Errorf("job %s %s: %s", id, job.State, job.Error)
	}
	d := job.EndedAt.Sub(job.SubmittedAt)
	r := result{name: fmt.Sprintf("Sluice p=%d (%d executor processes)", p, len(job.Executors)), dur: d, wordsPerS: float64(words) / d.Seconds()}
	if job.FirstRecordAt != nil {
		r.coldStart = job.FirstRecordAt.Sub(job.SubmittedAt)
	}
	for _, e := range job.Executors {
		r.rss = append(r.rss, e.MaxRSSBytes)
	}
	if err := checkOutput(filepath.Join(bucketDir, "bench", id), want); err != nil {
		return result{}, fmt.Errorf("job %s output: %w", id, err)
	}
	return r, nil
}

func checkOutput(dir string, want map[string]int64) error {
	got := map[string]int64{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			return err
		}
		for _, row := range rows {
			n, _ := strconv.ParseInt(row[1], 10, 64)
			got[row[0]] += n
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d distinct words, want %d", len(got), len(want))
	}
	for w, n := range want {
		if got[w] != n {
			return fmt.Errorf("count of %q is %d, want %d", w, got[w], n)
		}
	}
	return os.RemoveAll(dir)
}

func median(rs []result) result {
	sort.Slice(rs, func(a, b int) bool { return rs[a].dur < rs[b].dur })
	return rs[len(rs)/2]
}

func report(rs []result) {
	base := rs[0].wordsPerS
	fmt.Printf("\n%-40s %12s %10s %8s %12s %s\n", "configuration", "words/s", "time", "ratio", "cold start", "executor peak RSS")
	for _, r := range rs {
		cold, rss := "-", "-"
		if r.coldStart > 0 {
			cold = r.coldStart.Round(time.Millisecond).String()
		}
		if len(r.rss) > 0 {
			var parts []string
			for _, b := range r.rss {
				parts = append(parts, fmt.Sprintf("%d MiB", b>>20))
			}
			rss = strings.Join(parts, ", ")
		}
		fmt.Printf("%-40s %12.0f %10s %7.2fx %12s %s\n", r.name, r.wordsPerS, r.dur.Round(time.Millisecond), r.wordsPerS/base, cold, rss)
	}
}
