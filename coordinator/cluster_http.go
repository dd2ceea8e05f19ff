package coordinator

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
)

// The cluster API: GET /v1/cluster (members, leader, term, last applied
// index, agents and their slots; any node answers from its own view), and
// membership changes, which the leader makes.

func (c *Coordinator) handleCluster(w http.ResponseWriter, r *http.Request) {
	st, err := c.cfg.Store.Status()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := api.Cluster{
		Node: st.NodeID, State: st.State, Leader: st.Leader, Term: st.Term,
		LastApplied: st.LastApplied, CommitIndex: st.CommitIndex, Members: st.Servers,
		Agents: []api.ClusterAgent{}, Stale: st.Leader == "",
	}
	_, out.LeaderURL = c.cfg.Store.Leader()
	used := c.cfg.Store.UsedSlots()
	leading := c.leading()
	for _, a := range c.cfg.Store.Agents() {
		ca := api.ClusterAgent{ID: a.ID, URL: a.URL, Slots: a.Slots, UsedSlots: used[a.ID]}
		if leading {
			t := c.agents.lastSeen(a.ID).UTC()
			ca.LastHeartbeat = &t
		}
		out.Agents = append(out.Agents, ca)
	}
	if out.Stale {
		w.Header().Set(api.HeaderStale, "true")
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Coordinator) handleJoin(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	var req api.JoinRequest
	if !decodeJSON(w, body, &req) {
		return
	}
	if req.ID == "" || req.RaftAddr == "" {
		writeError(w, http.StatusBadRequest, "join: id and raftAddr are required")
		return
	}
	if err := c.cfg.Store.AddVoter(req.ID, req.RaftAddr); err != nil {
		storeError(w, err)
		return
	}
	if req.URL != "" {
		if _, err := c.cfg.Store.Apply(store.Command{Node: &store.NodeCmd{Node: store.Node{ID: req.ID, RaftAddr: req.RaftAddr, URL: req.URL}}}); err != nil {
			storeError(w, err)
			return
		}
	}
	c.log.Info().Str("id", req.ID).Str("raft", req.RaftAddr).Str("url", req.URL).Msg("node joined")
	writeJSON(w, http.StatusOK, struct{}{})
}

func (c *Coordinator) handleRemove(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	var req api.RemoveRequest
	if !decodeJSON(w, body, &req) {
		return
	}
	if req.ID == "" {
		writeError(w, http.StatusBadRequest, "remove: id is required")
		return
	}
	if err := c.cfg.Store.RemoveServer(req.ID); err != nil {
		storeError(w, err)
		return
	}
	if _, err := c.cfg.Store.Apply(store.Command{Node: &store.NodeCmd{Node: store.Node{ID: req.ID}, Remove: true}}); err != nil {
		storeError(w, err)
		return
	}
	c.log.Info().Str("id", req.ID).Msg("node removed")
	writeJSON(w, http.StatusOK, struct{}{})
}

// handlePing applies a no-op: it answers once the group commits writes.
func (c *Coordinator) handlePing(w http.ResponseWriter, r *http.Request) {
	if _, err := c.cfg.Store.Apply(store.Command{Noop: &store.NoopCmd{At: time.Now().UTC()}}); err != nil {
		storeError(w, err)
		return
	}
	st, _ := c.cfg.Store.Status()
	writeJSON(w, http.StatusOK, api.PingResponse{Leader: st.NodeID, Index: st.LastApplied})
}
