package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
	"github.com/sluicehq/sluice/coordinator/plan"
)

// names are the job names the generated jobs cycle through (with a
// number appended).
var names = []string{"wordcount", "keyed-sum", "sessionize-clicks", "etl-orders-nightly", "fraud-scores", "late-events", "dedupe-users", "top-products"}

// span is the time over which the generated jobs ended.
const span = 30 * 24 * time.Hour

// generate archives n jobs with writers at once, ending one every span/n
// before end, and returns how long it took.
func generate(ctx context.Context, b *blobstate.Bucket, n, writers int, end time.Time) (time.Duration, error) {
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				a, err := jobArchive(i, end.Add(-time.Duration(i)*span/time.Duration(n)))
				if err == nil {
					_, err = archive.Write(ctx, b, a)
				}
				if err != nil {
					errs <- fmt.Errorf("job %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// jobArchive builds the archive of generated job i: about 80% FINISHED,
// 12% CANCELED and 8% FAILED.
func jobArchive(i int, ended time.Time) (*archive.Archive, error) {
	rng := rand.New(rand.NewPCG(uint64(i), 42))
	state := api.JobFinished
	switch r := rng.IntN(100); {
	case r < 8:
		state = api.JobFailed
	case r < 20:
		state = api.JobCanceled
	}
	p := 1 + rng.IntN(4)
	spec := &jobspec.Spec{
		Name:     fmt.Sprintf("%s-%d", names[i%len(names)], i%97),
		Defaults: jobspec.Defaults{Parallelism: p, MaxParallelism: 128},
		Vertices: []jobspec.Vertex{
			{ID: "lines", Operator: "files", Parallelism: p, Config: json.RawMessage(`{"prefix":"corpus/"}`)},
			{ID: "words", Operator: "tokenize", Parallelism: p},
			{ID: "count", Operator: "count", Parallelism: p},
			{ID: "out", Operator: "files", Parallelism: p, Config: json.RawMessage(`{"prefix":"out/{job}/","format":"csv"}`)},
		},
		Edges: []jobspec.Edge{{From: "lines", To: "words", Partitioning: "forward"}, {From: "words", To: "count", Partitioning: "hash", Key: "word"}, {From: "count", To: "out", Partitioning: "forward"}},
	}
	pl, err := plan.Build(spec)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%016x", rng.Uint64())
	run := time.Duration(5+rng.IntN(600)) * time.Second
	started := ended.Add(-run)
	job := &api.Job{
		JobSummary: api.JobSummary{ID: id, Name: spec.Name, State: state, SubmittedAt: started.Add(-40 * time.Millisecond), EndedAt: &ended},
		StartedAt:  &started, Bucket: "file:///data/bucket", Spec: spec, Plan: pl, Attempt: 1,
	}
	records := int64(1000 + rng.IntN(10_000_000))
	for _, v := range spec.Vertices {
		pipe, _ := pl.PipelineOf(v.ID)
		m := api.Metrics{RecordsIn: records, RecordsOut: records, BytesIn: records * 12, BytesOut: records * 12, BackpressureMillis: int64(rng.IntN(5000))}
		job.Vertices = append(job.Vertices, api.VertexStatus{ID: v.ID, Operator: v.Operator, Parallelism: v.Parallelism, Pipeline: pipe, Metrics: m})
	}
	for _, st := range pl.Subtasks() {
		job.Tasks = append(job.Tasks, api.TaskStatus{Pipeline: st.Pipeline, Index: st.Index, Vertices: pl.Pipelines[st.Pipeline].Vertices, State: api.TaskFinished, Executor: fmt.Sprintf("%s-s%d-a1", id, st.Index), Attempt: 1})
	}
	for s := range pl.Slots {
		job.Executors = append(job.Executors, api.ExecutorStatus{ID: fmt.Sprintf("%s-s%d-a1", id, s), Slot: s, PID: 1000 + s, Exited: true, ExitInfo: "exited normally", MaxRSSBytes: 60 << 20})
	}
	cps := &api.Checkpoints{History: []api.CheckpointStatus{}}
	for c := range 10 {
		at := started.Add(time.Duration(c) * run / 10)
		done := at.Add(time.Duration(20+rng.IntN(300)) * time.Millisecond)
		cps.History = append(cps.History, api.CheckpointStatus{ID: int64(c + 1), Status: "COMPLETED", TriggeredAt: at, CompletedAt: &done,
			DurationMs: done.Sub(at).Milliseconds(), Bytes: int64(rng.IntN(50 << 20)), Acks: len(job.Tasks), Subtasks: len(job.Tasks)})
		cps.Completed++
	}
	ex := &archive.Exceptions{History: []archive.Exception{}}
	if state == api.JobFailed {
		e := archive.Exception{Attempt: 1, Kind: archive.KindTask, Task: "words->count[0]", Executor: id + "-s0-a1", Message: "expression: division by zero in `1 / n`"}
		job.Error = "subtask " + e.Task + " failed: " + e.Message
		ex.RootCause = &e
		ex.History = append(ex.History, e, archive.Exception{At: ended, Attempt: 1, Kind: archive.KindJob, Message: job.Error})
	}
	return archive.New(job, cps, ex, ended.Add(50*time.Millisecond))
}
