package coordinator

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
)

// handleCommands long-polls an executor's commands (checkpoint triggers);
// an executor of a replaced attempt, or of a job that is ending or
// restarting, is told to cancel.
func (c *Coordinator) handleCommands(w http.ResponseWriter, r *http.Request) {
	execID := r.URL.Query().Get("executor")
	job, ok := jobOfExecutor(execID)
	if !ok {
		writeError(w, http.StatusBadRequest, "executor: malformed executor id "+execID)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	attempt, _ := strconv.Atoi(r.URL.Query().Get("attempt"))
	epoch := r.URL.Query().Get("epoch")
	deadline := time.NewTimer(25 * time.Second)
	defer deadline.Stop()
	for {
		m := c.master(job)
		j, ok := c.cfg.Store.Job(job)
		if !ok || j.State.Terminal() {
			writeJSON(w, http.StatusOK, api.Commands{Commands: []api.Command{{Cancel: true}}})
			return
		}
		if m == nil {
			// a leader that has not started the job's master yet: the
			// executor asks again
			writeError(w, http.StatusServiceUnavailable, "no quorum: the leader is not ready yet")
			return
		}
		if epoch != m.epoch {
			// the executor followed another leader's log: this one
			// starts from its beginning
			writeJSON(w, http.StatusOK, api.Commands{Commands: m.commandsAfter(0), Epoch: m.epoch})
			return
		}
		changes := m.changes()
		switch {
		case j.State.Terminal(), j.State == api.JobCanceling, j.State == api.JobFailing,
			j.State == api.JobRestarting, attempt != 0 && attempt != j.Attempt:
			writeJSON(w, http.StatusOK, api.Commands{Commands: []api.Command{{Cancel: true}}})
			return
		}
		if cmds := m.commandsAfter(after); len(cmds) > 0 {
			writeJSON(w, http.StatusOK, api.Commands{Commands: cmds, Epoch: m.epoch})
			return
		}
		select {
		case <-changes:
		case <-deadline.C:
			writeJSON(w, http.StatusOK, api.Commands{Epoch: m.epoch})
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (c *Coordinator) handleAck(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	var a api.CheckpointAck
	if !decodeJSON(w, body, &a) {
		return
	}
	if m := c.master(a.Job); m != nil {
		m.ack(a)
	}
	resp := api.AckResponse{}
	if j, ok := c.cfg.Store.Job(a.Job); ok {
		for _, h := range j.History {
			// savepoints do not count: an intermediate one commits
			// nothing, so its output must ride on the next checkpoint
			if h.Status == "COMPLETED" && !h.Savepoint && h.ID > resp.LatestCompleted {
				resp.LatestCompleted = h.ID
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleCheckpoints serves GET /v1/jobs/{id}/checkpoints; a retired
// job's come from its archive.
func (c *Coordinator) handleCheckpoints(w http.ResponseWriter, r *http.Request) {
	j, ok := c.cfg.Store.Job(r.PathValue("id"))
	if !ok {
		c.serveArchived(w, r, archive.CheckpointsPath)
		return
	}
	out := api.Checkpoints{History: j.History}
	for _, h := range j.History {
		switch h.Status {
		case "COMPLETED":
			out.Completed++
		case "FAILED":
			out.Failed++
		}
	}
	if m := c.master(j.ID); m != nil {
		m.decoratePending(out.History)
	}
	writeJSON(w, http.StatusOK, out)
}

// handleSavepoint triggers a savepoint and answers once it is complete.
func (c *Coordinator) handleSavepoint(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	var req api.SavepointRequest
	if len(body) > 0 && !decodeJSON(w, body, &req) {
		return
	}
	j, ok := c.cfg.Store.Job(id)
	if !ok {
		c.refuseEnded(w, r, id, "savepoints are taken of running jobs")
		return
	}
	if j.State != api.JobRunning {
		writeError(w, http.StatusConflict, "job "+id+" is "+string(j.State)+"; savepoints are taken of running jobs")
		return
	}
	m := c.startMaster(id)
	res, err := m.requestSavepoint(r.Context(), req.Cancel)
	if err != nil {
		if errors.Is(err, store.ErrNotLeader) {
			storeError(w, err)
			return
		}
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	select {
	case out := <-res:
		switch {
		case errors.Is(out.err, store.ErrNotLeader):
			storeError(w, out.err)
			return
		case errors.Is(out.err, errSavepointRefused):
			writeError(w, http.StatusConflict, out.err.Error())
			return
		case out.err != nil:
			writeError(w, http.StatusInternalServerError, out.err.Error())
			return
		}
		writeJSON(w, http.StatusOK, out.resp)
	case <-r.Context().Done():
	}
}
