// Command checkpoint is the checkpointing benchmark. One run measures,
// through a real `sluice local`:
//
//  1. the cost of checkpoints: a keyed count over generated records at
//     parallelism 2 with checkpoints every 1 s against none, in -runs pairs
//     whose order alternates, so both see the same machine load: the
//     per-pair ratio of time to finish (median and range), and of the CPU
//     time the cluster's processes spent (Linux /proc; steadier than wall
//     time on a shared machine);
//
//  2. checkpoint duration and size with 1 M keys of keyed state;
//
//  3. recovery time: SIGKILL an executor of a checkpointing job and time
//     from the kill to the first record processed by the new executors.
//
//     go run ./bench/checkpoint [-records 6000000] [-runs 3] [-kills 5]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/bench/localcluster"
	"github.com/sluicehq/sluice/coordinator/api"
)

func main() {
	records := flag.Int("records", 6_000_000, "records of the throughput job")
	runs := flag.Int("runs", 5, "pairs of throughput runs (with and without checkpoints)")
	kills := flag.Int("kills", 5, "kills for the recovery measurement")
	work := flag.String("dir", ".sluice/bench-checkpoint", "work directory")
	flag.Parse()
	if err := run(*records, *runs, *kills, *work); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(records, runs, kills int, work string) error {
	work, _ = filepath.Abs(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	bin, err := localcluster.Build(work)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(filepath.Join(work, "cluster"))
	cl, err := localcluster.Start(bin, filepath.Join(work, "cluster"))
	if err != nil {
		return err
	}
	defer cl.Stop()

	// 1. throughput with and without checkpoints, in pairs whose order
	// alternates, each job alone on the cluster: wall time, and the CPU
	// time the cluster's processes spent on it
	var with, without, cpuWith, cpuWithout []time.Duration
	var wallRatios, cpuRatios []float64
	var lastWith *api.Job
	for i := 0; i < runs; i++ {
		var pair [2]time.Duration // without, with
		var cpu [2]time.Duration
		for k := 0; k < 2; k++ {
			withCheckpoints := (k == 1) != (i%2 == 1)
			interval := ""
			if withCheckpoints {
				interval = "1s"
			}
			c0, err := cl.CPU()
			if err != nil {
				return err
			}
			d, j, err := countJob(cl, records, interval)
			if err != nil {
				return err
			}
			c1, err := cl.CPU()
			if err != nil {
				return err
			}
			idx := 0
			if withCheckpoints {
				idx, lastWith = 1, j
			}
			pair[idx], cpu[idx] = d, c1-c0
		}
		without, with = append(without, pair[0]), append(with, pair[1])
		cpuWithout, cpuWith = append(cpuWithout, cpu[0]), append(cpuWith, cpu[1])
		wallRatios = append(wallRatios, pair[1].Seconds()/pair[0].Seconds())
		cpuRatios = append(cpuRatios, cpu[1].Seconds()/cpu[0].Seconds())
	}
	mw, mo := median(with), median(without)
	fmt.Printf("keyed count, %d records, 100k keys, p=2 (%d pairs, order alternating; medians)\n", records, runs)
	fmt.Printf("  no checkpoints:          %8s  %10.0f records/s  %8s CPU\n", mo.Round(time.Millisecond), float64(records)/mo.Seconds(), median(cpuWithout).Round(10*time.Millisecond))
	fmt.Printf("  checkpoints every 1 s:   %8s  %10.0f records/s  %8s CPU  (%d completed in the last run)\n", mw.Round(time.Millisecond), float64(records)/mw.Seconds(), median(cpuWith).Round(10*time.Millisecond), completed(lastWith))
	fmt.Printf("  cost per pair, wall time: median %+.1f%%, range %s (target <= 5%%)\n", 100*(medianF(wallRatios)-1), spread(wallRatios))
	fmt.Printf("  cost per pair, CPU time:  median %+.1f%%, range %s\n\n", 100*(medianF(cpuRatios)-1), spread(cpuRatios))

	// 2. checkpoint duration and size with 1M keys
	if err := bigState(cl); err != nil {
		return err
	}
	// 3. recovery time
	return recovery(cl, kills)
}

func submit(cl *localcluster.Cluster, spec map[string]any) (string, error) {
	body, _ := json.Marshal(spec)
	return cl.Client.Submit(context.TODO(), body, "application/json")
}

func countJob(cl *localcluster.Cluster, records int, interval string) (time.Duration, *api.Job, error) {
	spec := map[string]any{
		"defaults": map[string]any{"parallelism": 2},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"count": records, "keys": 100000, "chunk": 200000}},
			{"id": "cnt", "operator": "count"},
			{"id": "out", "operator": "files", "config": map[string]any{"prefix": "bench/{job}/", "format": "jsonl"}},
		},
		"edges": []map[string]any{
			{"from": "gen", "to": "cnt", "partitioning": "hash", "key": "key"},
			{"from": "cnt", "to": "out"},
		},
	}
	if interval != "" {
		spec["checkpointing"] = map[string]any{"interval": interval}
	}
	id, err := submit(cl, spec)
	if err != nil {
		return 0, nil, err
	}
	j, err := cl.Wait(id, 10*time.Minute, func(j *api.Job) bool { return j.State == api.JobFinished })
	if err != nil {
		return 0, nil, err
	}
	return j.EndedAt.Sub(j.SubmittedAt), j, nil
}

func completed(j *api.Job) int {
	if j == nil || j.Checkpoints == nil {
		return 0
	}
	return j.Checkpoints.Completed
}

// bigState runs an unbounded keyed count until it holds 1M keys, then
// reports the checkpoints taken with that state.
func bigState(cl *localcluster.Cluster) error {
	const keys = 1_000_000
	id, err := submit(cl, map[string]any{
		"defaults":      map[string]any{"parallelism": 2},
		"checkpointing": map[string]any{"interval": "1s"},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"keys": keys}},
			{"id": "cnt", "operator": "count"},
			{"id": "out", "operator": "print"},
		},
		"edges": []map[string]any{
			{"from": "gen", "to": "cnt", "partitioning": "hash", "key": "key"},
			{"from": "cnt", "to": "out"},
		},
	})
	if err != nil {
		return err
	}
	var firstFull int64
	_, err = cl.Wait(id, 5*time.Minute, func(j *api.Job) bool {
		if j.Vertices[1].Metrics.RecordsIn < 2*keys {
			return false
		}
		if firstFull == 0 && j.Checkpoints != nil {
			firstFull = j.Checkpoints.InProgress + 1 // the next one holds every key
			if firstFull == 1 {
				firstFull = j.Checkpoints.LatestID + 1
			}
		}
		cps, err := cl.Client.Checkpoints(context.TODO(), id)
		if err != nil {
			return false
		}
		n := 0
		for _, h := range cps.History {
			if h.Status == "COMPLETED" && h.ID >= firstFull {
				n++
			}
		}
		return n >= 3
	})
	if err != nil {
		return err
	}
	cps, err := cl.Client.Checkpoints(context.TODO(), id)
	if err != nil {
		return err
	}
	fmt.Printf("checkpoints with %d keys of keyed state (p=2, every 1 s, job still running):\n", keys)
	for _, h := range cps.History {
		if h.Status == "COMPLETED" && h.ID >= firstFull {
			fmt.Printf("  chk-%d: %4d ms, %6.1f MB\n", h.ID, h.DurationMs, float64(h.Bytes)/1e6)
		}
	}
	fmt.Println()
	if _, err := cl.Client.Cancel(context.TODO(), id); err != nil {
		return err
	}
	_, err = cl.Wait(id, time.Minute, func(j *api.Job) bool { return j.State.Terminal() })
	if err != nil && !strings.Contains(err.Error(), "CANCELED") {
		return err
	}
	return nil
}

// recovery kills an executor of a running job several times and measures
// the time to the first record processed by the restarted executors.
func recovery(cl *localcluster.Cluster, kills int) error {
	id, err := submit(cl, map[string]any{
		"defaults":      map[string]any{"parallelism": 2},
		"checkpointing": map[string]any{"interval": "500ms"},
		"restart":       map[string]any{"strategy": "fixed-delay", "delay": "0ms", "attempts": kills + 1},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"keys": 1000, "rate": 50000}},
			{"id": "cnt", "operator": "count", "config": map[string]any{"emit": "every"}},
			{"id": "out", "operator": "files", "config": map[string]any{"prefix": "recovery/{job}/", "format": "jsonl"}},
		},
		"edges": []map[string]any{
			{"from": "gen", "to": "cnt", "partitioning": "hash", "key": "key"},
			{"from": "cnt", "to": "out"},
		},
	})
	if err != nil {
		return err
	}
	var times []time.Duration
	for k := 0; k < kills; k++ {
		j, err := cl.Wait(id, time.Minute, func(j *api.Job) bool {
			return j.State == api.JobRunning && j.Attempt == k+1 && completed(j) > 0 && j.FirstRecordAt != nil
		})
		if err != nil {
			return err
		}
		pid := 0
		for _, e := range j.Executors {
			if !e.Exited && e.PID > 0 {
				pid = e.PID
			}
		}
		if pid == 0 {
			return fmt.Errorf("no executor to kill")
		}
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return err
		}
		j, err = cl.Wait(id, time.Minute, func(j *api.Job) bool {
			return j.Attempt == k+2 && j.FirstRecordAt != nil && j.FirstRecordAt.After(killed)
		})
		if err != nil {
			return err
		}
		times = append(times, j.FirstRecordAt.Sub(killed))
	}
	sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
	var parts []string
	for _, t := range times {
		parts = append(parts, strconv.FormatInt(t.Milliseconds(), 10)+"ms")
	}
	fmt.Printf("recovery, SIGKILL of an executor -> first record processed by the new executors (%d kills):\n", kills)
	fmt.Printf("  median %s, max %s (target <= 1 s); all: %s\n", times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), strings.Join(parts, " "))
	_, err = cl.Client.Cancel(context.TODO(), id)
	return err
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

func medianF(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// spread formats the smallest and largest ratio as percentages.
func spread(xs []float64) string {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return fmt.Sprintf("%+.1f%% .. %+.1f%%", 100*(s[0]-1), 100*(s[len(s)-1]-1))
}
