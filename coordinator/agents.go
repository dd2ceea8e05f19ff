package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/launch"
	"github.com/sluicehq/sluice/coordinator/store"
)

// Agents. A `sluice agent` on each worker host registers its slots with the
// group and heartbeats (POST /v1/internal/agent/heartbeat, forwarded to the
// leader like every internal call). The agent table (id, URL, slots) and
// which agent runs each executor are replicated, so any leader can place,
// kill and account for executors; heartbeat times are leader memory, and a
// new leader gives every agent a full timeout of grace. An agent silent for
// AgentTimeout is lost: its executors count as exited, and the restart
// strategy restarts the job on the remaining agents.

// agentTable is the leader's memory of agents.
type agentTable struct {
	mu       sync.Mutex
	seen     map[string]time.Time // agent -> last heartbeat
	since    time.Time            // start of the term: grace for every agent
	launched map[string]time.Time // executor -> launch time, this term
}

func newAgentTable() *agentTable {
	return &agentTable{seen: map[string]time.Time{}, launched: map[string]time.Time{}}
}

func (t *agentTable) reset(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen = map[string]time.Time{}
	t.launched = map[string]time.Time{}
	t.since = now
}

func (t *agentTable) heartbeat(id string, now time.Time) {
	t.mu.Lock()
	t.seen[id] = now
	t.mu.Unlock()
}

// lastSeen is the last heartbeat, or the start of the term.
func (t *agentTable) lastSeen(id string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.seen[id]; ok {
		return s
	}
	return t.since
}

func (t *agentTable) launch(executor string, now time.Time) {
	t.mu.Lock()
	t.launched[executor] = now
	t.mu.Unlock()
}

// recentlyLaunched reports whether an executor may not show up in its
// agent's list yet.
func (t *agentTable) recentlyLaunched(executor string, within time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.since) < within {
		return true
	}
	at, ok := t.launched[executor]
	return ok && time.Since(at) < within
}

// place picks the agent of each of n slots: each goes to the agent with
// the most free slots. With a local launcher every host is "".
func (c *Coordinator) place(n int) ([]string, error) {
	hosts := make([]string, n)
	if c.cfg.Launcher != nil {
		return hosts, nil
	}
	agents := c.cfg.Store.Agents()
	used := c.cfg.Store.UsedSlots()
	free := map[string]int{}
	total := 0
	for _, a := range agents {
		if f := a.Slots - used[a.ID]; f > 0 {
			free[a.ID] = f
			total += f
		}
	}
	if total < n {
		return nil, fmt.Errorf("not enough free slots: need %d, %d free on %d agents", n, total, len(agents))
	}
	for i := range hosts {
		best := ""
		for _, a := range agents {
			if free[a.ID] > free[best] || (best == "" && free[a.ID] > 0) {
				best = a.ID
			}
		}
		hosts[i] = best
		free[best]--
	}
	sort.Strings(hosts)
	return hosts, nil
}

// agentLauncher is the Launcher that runs executors on agents.
type agentLauncher struct{ c *Coordinator }

func (l *agentLauncher) client(agentID string) (*api.Client, error) {
	for _, a := range l.c.cfg.Store.Agents() {
		if a.ID == agentID {
			cl := api.NewClient(a.URL, l.c.cfg.Token)
			cl.HTTP = l.c.cfg.HTTP
			return cl, nil
		}
	}
	return nil, fmt.Errorf("no agent %q is registered", agentID)
}

// Launch implements Launcher. The agent adds its own environment and
// token: none of the coordinator's environment crosses the network.
func (l *agentLauncher) Launch(ctx context.Context, r launch.Request) (int, error) {
	cl, err := l.client(r.Host)
	if err != nil {
		return 0, err
	}
	l.c.agents.launch(r.ExecutorID, time.Now())
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := cl.AgentLaunch(ctx, api.LaunchRequest{ExecutorID: r.ExecutorID, Args: r.Args})
	if err != nil {
		return 0, err
	}
	return resp.PID, nil
}

// Kill implements Launcher. An executor whose agent is gone is gone too.
func (l *agentLauncher) Kill(executorID string) error {
	job, ok := jobOfExecutor(executorID)
	if !ok {
		return nil
	}
	agent, ok := l.c.cfg.Store.ExecutorAgent(job, executorID)
	if !ok {
		return nil
	}
	cl, err := l.client(agent)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.AgentKill(ctx, executorID)
}

// monitorAgents declares agents lost once they miss their heartbeats.
func (c *Coordinator) monitorAgents(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, a := range c.cfg.Store.Agents() {
			silent := time.Since(c.agents.lastSeen(a.ID))
			if silent <= c.cfg.AgentTimeout {
				continue
			}
			info := fmt.Sprintf("agent %s lost: no heartbeat for %s", a.ID, silent.Round(time.Millisecond))
			c.log.Warn().Str("agent", a.ID).Dur("silent", silent).Msg("agent lost; its executors count as exited")
			if _, err := c.cfg.Store.Apply(store.Command{AgentLost: &store.AgentLostCmd{ID: a.ID, Info: info}}); err != nil {
				c.log.Warn().Err(err).Str("agent", a.ID).Msg("record lost agent")
				continue
			}
			c.wakeAll()
		}
	}
}

// wakeAll wakes every job master.
func (c *Coordinator) wakeAll() {
	c.mu.Lock()
	ms := make([]*jobMaster, 0, len(c.masters))
	for _, m := range c.masters {
		ms = append(ms, m)
	}
	c.mu.Unlock()
	for _, m := range ms {
		m.wake()
	}
}

func (c *Coordinator) handleAgentHeartbeat(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	var h api.AgentHeartbeat
	if !decodeJSON(w, body, &h) {
		return
	}
	if h.ID == "" || h.URL == "" || h.Slots <= 0 {
		writeError(w, http.StatusBadRequest, "agent heartbeat: id, url and slots > 0 are required")
		return
	}
	known := false
	for _, a := range c.cfg.Store.Agents() {
		known = known || (a.ID == h.ID && a.URL == h.URL && a.Slots == h.Slots)
	}
	if !known {
		_, err := c.cfg.Store.Apply(store.Command{Agent: &store.AgentCmd{Agent: store.Agent{
			ID: h.ID, URL: h.URL, Slots: h.Slots, RegisteredAt: time.Now().UTC(),
		}}})
		if err != nil {
			storeError(w, err)
			return
		}
		c.log.Info().Str("agent", h.ID).Str("url", h.URL).Int("slots", h.Slots).Msg("agent registered")
		c.wakeAll() // jobs waiting for slots
	}
	c.agents.heartbeat(h.ID, time.Now())
	c.reconcileAgent(h)
	writeJSON(w, http.StatusOK, struct{}{})
}

// reconcileAgent records as exited the executors an agent says it does not
// run (it restarted, or a launch never reached it).
func (c *Coordinator) reconcileAgent(h api.AgentHeartbeat) {
	running := map[string]bool{}
	for _, id := range h.Running {
		running[id] = true
	}
	for _, j := range c.cfg.Store.Jobs() {
		if j.State.Terminal() {
			continue
		}
		for _, e := range j.Executors {
			if e.Agent != h.ID || e.Exited || running[e.ID] || c.agents.recentlyLaunched(e.ID, c.cfg.AgentTimeout) {
				continue
			}
			info := fmt.Sprintf("executor %s is not running on agent %s", e.ID, h.ID)
			if _, err := c.cfg.Store.Apply(store.Command{Exit: &store.ExitCmd{Job: j.ID, ExecutorID: e.ID, Info: info}}); err == nil {
				if m := c.master(j.ID); m != nil {
					m.wake()
				}
			}
		}
	}
}

func (c *Coordinator) handleAgentExit(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	var e api.AgentExit
	if !decodeJSON(w, body, &e) {
		return
	}
	ex := launch.Exit{ExecutorID: e.ExecutorID, PID: e.PID, ExitCode: e.ExitCode, Stopped: e.Stopped, LogTail: e.LogTail}
	if e.Error != "" {
		ex.Err = errors.New(e.Error)
	}
	c.ExecutorExited(ex)
	writeJSON(w, http.StatusOK, struct{}{})
}
