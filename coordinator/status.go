package coordinator

import (
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
)

// jobStatus renders a job for GET /v1/jobs/{id}: the replicated state plus,
// while it runs, the leader's live metrics.
func (c *Coordinator) jobStatus(j *store.Job) *api.Job {
	out := &api.Job{
		JobSummary: j.Summary(),
		Bucket:     j.Bucket,
		Spec:       j.Spec,
		Plan:       j.Plan,
	}
	out.Attempt, out.Restarts, out.Warnings, out.LastSavepoint = j.Attempt, j.Restarts, j.Warnings, j.LastSavepoint
	if j.Restore != nil {
		out.RestoredFrom = j.Restore.Checkpoint
	}
	if len(j.History) > 0 || len(j.Completed) > 0 {
		cs := &api.CheckpointSummary{}
		for _, h := range j.History {
			switch h.Status {
			case "COMPLETED":
				cs.Completed++
			case "FAILED":
				cs.Failed++
			case "IN_PROGRESS":
				cs.InProgress = h.ID
			}
		}
		if n := len(j.Completed); n > 0 {
			last := j.Completed[n-1]
			cs.LatestID, cs.LatestDir = last.ID, last.Dir
			wm, ev := last.Watermark, last.MaxEventTime
			cs.Watermark, cs.LastEventTime = &wm, &ev
		}
		out.Checkpoints = cs
	}
	if !j.StartedAt.IsZero() {
		t := j.StartedAt
		out.StartedAt = &t
	}
	m := c.master(j.ID)
	totals := j.Metrics
	var rates map[string][2]float64
	if m != nil && !j.State.Terminal() {
		totals = m.vertexTotals()
		rates = m.rates()
	}
	for _, v := range j.Spec.Vertices {
		pipe, _ := j.Plan.PipelineOf(v.ID)
		vs := api.VertexStatus{ID: v.ID, Operator: v.Operator, Parallelism: v.Parallelism, Pipeline: pipe, Metrics: totals[v.ID]}
		if r, ok := rates[v.ID]; ok {
			vs.RecordsInRate, vs.RecordsOutRate = r[0], r[1]
		}
		out.Vertices = append(out.Vertices, vs)
	}
	for _, t := range j.SortedTasks() {
		ts := api.TaskStatus{Pipeline: t.Pipeline, Index: t.Index, State: t.State, Executor: t.Executor, Attempt: j.Attempt, Error: t.Error}
		if t.Pipeline < len(j.Plan.Pipelines) {
			ts.Vertices = j.Plan.Pipelines[t.Pipeline].Vertices
		}
		out.Tasks = append(out.Tasks, ts)
	}
	if m != nil {
		if first := m.firstRecord(); !first.IsZero() {
			out.FirstRecordAt = &first
		}
	}
	for _, e := range sortedExecutors(j) {
		es := api.ExecutorStatus{ID: e.ID, Slot: e.Slot, PID: e.PID, DataAddr: e.DataAddr, Agent: e.Agent, Exited: e.Exited, ExitInfo: e.ExitInfo}
		if m != nil {
			es.MaxInflightBytes, es.MaxRSSBytes = m.executorFigures(e.ID)
		}
		out.Executors = append(out.Executors, es)
	}
	return out
}
