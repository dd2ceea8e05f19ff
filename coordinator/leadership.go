package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
)

// Leadership. Every node runs Run; the node that leads the raft group
// drives the jobs. A term here is one stretch of leadership: it starts a
// job master per unfinished job (with fresh leader memory: heartbeats get
// a grace period, the command log a new epoch, a checkpoint in flight under
// the previous leader is recorded as aborted) and the agent monitor; it
// ends, stopping them all, when the node loses leadership. Executors and
// agents keep running throughout: they retry their calls on the other
// nodes until the new leader answers.

// term is the leader-local state of one stretch of leadership.
type term struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	since  time.Time
}

// leaderPoll is how often a node checks whether it leads; it bounds the
// delay between winning an election and serving as leader.
const leaderPoll = 20 * time.Millisecond

// Run drives jobs whenever this node leads the group, and records this
// node's HTTP address in the group, until ctx ends.
func (c *Coordinator) Run(ctx context.Context) error {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.announce(ctx)
	}()
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for {
		leader := c.cfg.Store.IsLeader()
		c.mu.Lock()
		cur := c.term
		c.mu.Unlock()
		switch {
		case leader && cur == nil:
			if err := c.lead(); err != nil {
				c.log.Warn().Err(err).Msg("take over as leader")
			}
		case !leader && cur != nil:
			c.follow()
		}
		select {
		case <-ctx.Done():
			c.follow()
			return nil
		case <-t.C:
		}
	}
}

// leading reports whether this node leads and has started its job masters.
func (c *Coordinator) leading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.term != nil
}

// lead starts a term: it waits until the log of earlier leaders is
// applied, records this node's address, and resumes every unfinished job.
func (c *Coordinator) lead() error {
	if err := c.cfg.Store.Barrier(); err != nil {
		return err
	}
	if err := c.recordSelf(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	t := &term{ctx: ctx, cancel: cancel, since: time.Now()}
	c.mu.Lock()
	c.term = t
	c.masters = map[string]*jobMaster{}
	c.mu.Unlock()
	c.agents.reset(time.Now())
	st, _ := c.cfg.Store.Status()
	c.log.Info().Uint64("term", st.Term).Msg("leading")
	c.adoptExecutors() // adopt.go: earlier leaders' executors become this launcher's
	for _, j := range c.cfg.Store.Jobs() {
		if !j.State.Terminal() {
			c.startMaster(j.ID)
		}
	}
	c.startArchiveSweep(t) // archive.go: ended jobs without an archive get one
	c.startStagingSweep(t) // staging.go: recently ended jobs get their staging cleaned
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		c.monitorAgents(t.ctx)
	}()
	return nil
}

// follow ends the term, if any: job masters and the agent monitor stop;
// the jobs' executors keep running.
func (c *Coordinator) follow() {
	c.mu.Lock()
	t := c.term
	c.term = nil
	c.mu.Unlock()
	if t == nil {
		return
	}
	t.cancel()
	t.wg.Wait()
	c.mu.Lock()
	c.masters = map[string]*jobMaster{}
	c.mu.Unlock()
	c.log.Info().Msg("no longer leading")
}

// recordSelf writes this node's addresses into the node table, if they
// are not there yet.
func (c *Coordinator) recordSelf() error {
	self := store.Node{ID: c.cfg.Store.NodeID(), RaftAddr: c.cfg.Store.Addr(), URL: c.apiURL()}
	if self.URL == "" {
		return nil
	}
	for _, n := range c.cfg.Store.Nodes() {
		if *n == self {
			return nil
		}
	}
	_, err := c.cfg.Store.Apply(store.Command{Node: &store.NodeCmd{Node: self}})
	return err
}

// announce has the leader record this node's HTTP address (a follower
// cannot write it itself), so that the others can forward to it when it
// leads and executors can be told about it.
func (c *Coordinator) announce(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		self := store.Node{ID: c.cfg.Store.NodeID(), RaftAddr: c.cfg.Store.Addr(), URL: c.apiURL()}
		if self.URL == "" || c.cfg.Store.IsLeader() {
			continue
		}
		known := false
		for _, n := range c.cfg.Store.Nodes() {
			known = known || *n == self
		}
		_, leaderURL := c.cfg.Store.Leader()
		if known || leaderURL == "" {
			continue
		}
		cl := api.NewClient(leaderURL, c.cfg.Token)
		cl.HTTP = c.cfg.HTTP
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := cl.Join(cctx, api.JoinRequest{ID: self.ID, RaftAddr: self.RaftAddr, URL: self.URL})
		cancel()
		if err != nil {
			c.log.Debug().Err(err).Msg("announce this node to the leader")
		}
	}
}

// executorURLs is the --coordinator list given to executors: every node's
// API, this node's first.
func (c *Coordinator) executorURLs() string {
	urls := []string{c.apiURL()}
	var others []string
	for _, n := range c.cfg.Store.Nodes() {
		if n.URL != "" && n.URL != urls[0] {
			others = append(others, n.URL)
		}
	}
	sort.Strings(others)
	return strings.Join(append(urls, others...), ",")
}

// abortStaleCheckpoints records the checkpoints that a previous leader left
// in flight as failed: their acknowledgements went to it.
func (m *jobMaster) abortStaleCheckpoints() {
	j, ok := m.c.cfg.Store.Job(m.id)
	if !ok {
		return
	}
	for _, h := range j.History {
		if h.Status != "IN_PROGRESS" {
			continue
		}
		h.Status = "FAILED"
		h.Failure = "aborted: the leader changed"
		h.DurationMs = time.Since(h.TriggeredAt).Milliseconds()
		if _, err := m.c.cfg.Store.Apply(store.Command{CheckpointEnd: &store.CheckpointEndCmd{
			Job: j.ID, Status: h, Retained: checkpointConfig(j.Spec).Retained,
		}}); err != nil {
			m.log.Warn().Err(err).Int64("checkpoint", h.ID).Msg("record aborted checkpoint")
		}
	}
}

func newEpoch() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// WaitLeading blocks until this node leads and serves as leader, or ctx
// ends.
func (c *Coordinator) WaitLeading(ctx context.Context) error {
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for !c.leading() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// release answers whoever waits on the master when it stops (this node
// lost leadership): savepoint requests fail, so that their clients can ask
// the new leader.
func (m *jobMaster) release() {
	m.failSavepointRequests(fmt.Errorf("%w: the coordinator leader changed; try again", store.ErrNotLeader))
	m.mu.Lock()
	p := m.pending
	m.pending = nil
	m.mu.Unlock()
	if p != nil {
		for _, w := range p.waiters {
			w <- savepointResult{err: fmt.Errorf("savepoint %d aborted: the coordinator leader changed; try again", p.id)}
		}
	}
}
