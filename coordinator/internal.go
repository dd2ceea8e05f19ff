package coordinator

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
	"github.com/sluicehq/sluice/coordinator/store"
)

// The internal protocol spoken by executors: register, fetch the
// deployment (long poll), heartbeat, report task states, ask for splits.

func (c *Coordinator) handleRegister(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	var req api.RegisterRequest
	if !decodeJSON(w, body, &req) {
		return
	}
	if req.DataAddr == "" {
		writeError(w, http.StatusBadRequest, "dataAddr is required")
		return
	}
	_, err := c.cfg.Store.Apply(store.Command{Register: &store.RegisterCmd{
		Job: req.Job, ExecutorID: req.ExecutorID, DataAddr: req.DataAddr, PID: req.PID,
	}})
	if err != nil {
		storeError(w, err)
		return
	}
	c.log.Debug().Str("job", req.Job).Str("executor", req.ExecutorID).Str("data", req.DataAddr).Msg("executor registered")
	if m := c.master(req.Job); m != nil {
		m.heartbeat(api.Heartbeat{ExecutorID: req.ExecutorID, Job: req.Job})
		m.wake()
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleDeployment answers with the executor's deployment once the job runs,
// with Cancel once it is being cancelled, or 204 after the wait.
func (c *Coordinator) handleDeployment(w http.ResponseWriter, r *http.Request) {
	execID := r.URL.Query().Get("executor")
	job, ok := jobOfExecutor(execID)
	if !ok {
		writeError(w, http.StatusBadRequest, "executor: malformed executor id "+execID)
		return
	}
	wait, err := time.ParseDuration(r.URL.Query().Get("wait"))
	if err != nil || wait <= 0 || wait > time.Minute {
		wait = 30 * time.Second
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		var changes <-chan struct{}
		if m := c.master(job); m != nil {
			changes = m.changes()
		}
		j, ok := c.cfg.Store.Job(job)
		if !ok {
			writeError(w, http.StatusNotFound, "no such job: "+job)
			return
		}
		d, ready, err := deploymentFor(j, execID)
		if err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		if ready {
			writeJSON(w, http.StatusOK, d)
			return
		}
		select {
		case <-changes:
		case <-deadline.C:
			w.WriteHeader(http.StatusNoContent)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func deploymentFor(j *store.Job, execID string) (*api.Deployment, bool, error) {
	var me *store.Executor
	for _, e := range j.Executors {
		if e.ID == execID {
			me = e
		}
	}
	if me == nil {
		return nil, false, fmt.Errorf("job %s has no executor %s", j.ID, execID)
	}
	switch j.State {
	case api.JobRunning:
	case api.JobCanceling, api.JobFailing, api.JobCanceled, api.JobFailed, api.JobFinished, api.JobRestarting:
		return &api.Deployment{Job: j.ID, ExecutorID: execID, Cancel: true}, true, nil
	default:
		return nil, false, nil
	}
	d := &api.Deployment{
		Job: j.ID, Attempt: me.Attempt, ExecutorID: execID, Slot: me.Slot,
		Bucket: j.Bucket, Spec: j.Spec, Plan: j.Plan, Restore: j.Restore,
		AtLeastOnce: j.Spec.Checkpointing.Mode == jobspec.AtLeastOnce,
		Subtasks:    j.Plan.SubtasksInSlot(me.Slot),
		Peers:       map[int]string{},
	}
	for s, e := range j.Executors {
		d.Peers[s] = e.DataAddr
	}
	return d, true, nil
}

func (c *Coordinator) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	var h api.Heartbeat
	if !decodeJSON(w, body, &h) {
		return
	}
	j, ok := c.cfg.Store.Job(h.Job)
	if !ok {
		writeJSON(w, http.StatusOK, api.HeartbeatResponse{Cancel: true})
		return
	}
	if m := c.master(h.Job); m != nil {
		m.heartbeat(h)
	}
	cancel := j.State == api.JobCanceling || j.State == api.JobFailing || j.State == api.JobRestarting || j.State.Terminal()
	writeJSON(w, http.StatusOK, api.HeartbeatResponse{Cancel: cancel})
}

func (c *Coordinator) handleTask(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	var u api.TaskUpdate
	if !decodeJSON(w, body, &u) {
		return
	}
	m := c.master(u.Job)
	if m != nil {
		m.taskMetrics(u.Metrics)
	}
	_, err := c.cfg.Store.Apply(store.Command{Task: &store.TaskCmd{
		Job: u.Job, Pipeline: u.Pipeline, Index: u.Index, State: u.State, Error: u.Error, Executor: u.ExecutorID,
		Attempt: u.Attempt, FinalCommits: u.Commitables,
	}})
	if err != nil {
		storeError(w, err)
		return
	}
	if m != nil {
		m.wake()
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (c *Coordinator) handleSplit(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	var req api.SplitRequest
	if !decodeJSON(w, body, &req) {
		return
	}
	resp, err := c.cfg.Store.Apply(store.Command{Split: &store.SplitCmd{Job: req.Job, Vertex: req.Vertex, Subtask: req.Subtask}})
	if err != nil {
		storeError(w, err)
		return
	}
	res := resp.(*store.SplitResult)
	writeJSON(w, http.StatusOK, api.SplitResponse{Split: res.Split, Skip: res.Skip, Done: res.Done, Wait: res.Wait})
}
