// Package store is the coordinator's replicated job store: a hashicorp/raft
// state machine over the job table (jobs, execution plans, executor and slot
// assignments, task states, split assignments), with its log and stable store
// in raft-boltdb and snapshots on disk. Every change goes through the Raft
// log, so a node that becomes leader carries on from the same state.
//
// The state machine (fsm.go) does no IO and is deterministic; Store (this
// file) wires it to Raft over TCP.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/rs/zerolog"
)

// ErrNotLeader is returned by writes on a node that is not the leader.
var ErrNotLeader = errors.New("not the raft leader")

// Config configures a Store.
type Config struct {
	// Dir holds the raft log (raft.db) and snapshots. Required.
	Dir string
	// NodeID names this node in the group; defaults to "node-1".
	NodeID string
	// BindAddr is the raft TCP address; "127.0.0.1:0" picks a free port.
	BindAddr string
	// AdvertiseAddr is the address other nodes use; defaults to the bound
	// address.
	AdvertiseAddr string
	// Bootstrap makes a new group if Dir holds no raft state: of Peers when
	// set (every initial node is started with the same list), else of this
	// node alone.
	Bootstrap bool
	// Peers are the voters of a group bootstrapped from flags; this node
	// must be one of them.
	Peers []Peer
	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout tune raft;
	// zero values pick 200/200/100 ms, which elects a leader in well under a
	// second on a LAN.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// Token, when set, is required from every raft peer (see tcpLayer).
	Token string
	// TLS, when set, encrypts raft traffic and authenticates the peers by
	// their certificates (see TLSConfig); every node of the group needs it.
	TLS *TLSConfig
	// ApplyTimeout bounds one write; default 10 s.
	ApplyTimeout time.Duration
	Logger       zerolog.Logger
}

func (c *Config) setDefaults() {
	if c.NodeID == "" {
		c.NodeID = "node-1"
	}
	if c.BindAddr == "" {
		c.BindAddr = "127.0.0.1:0"
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = 200 * time.Millisecond
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = 200 * time.Millisecond
	}
	if c.LeaderLeaseTimeout == 0 {
		c.LeaderLeaseTimeout = 100 * time.Millisecond
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 10 * time.Second
	}
}

// Peer is a voter of the initial configuration.
type Peer struct {
	ID   string
	Addr string // raft address
}

// Store is one node's view of the replicated job table. Its methods are safe
// for concurrent use.
type Store struct {
	cfg       Config
	raft      *raft.Raft
	fsm       *fsm
	transport *raft.NetworkTransport
	logStore  *raftboltdb.BoltStore
}

// Open starts the raft node.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("store: Dir is required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create raft dir: %w", err)
	}
	log := cfg.Logger.With().Str("component", "raft").Logger()
	hl := newHclog(log)

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.Logger = hl
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raft config: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("raft listen on %s: %w", cfg.BindAddr, err)
	}
	var adv net.Addr = ln.Addr()
	if cfg.AdvertiseAddr != "" {
		adv, err = net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("raft advertise address %q: %w", cfg.AdvertiseAddr, err)
		}
	}
	transport := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  newTCPLayer(ln, adv, layerConfig{token: cfg.Token, tls: cfg.TLS, log: log}),
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hl,
	})

	logStore, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		transport.Close()
		return nil, fmt.Errorf("open raft log in %s: %w", cfg.Dir, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hl)
	if err != nil {
		logStore.Close()
		transport.Close()
		return nil, fmt.Errorf("open raft snapshots in %s: %w", cfg.Dir, err)
	}
	f := newFSM()
	r, err := raft.NewRaft(rc, f, logStore, logStore, snaps, transport)
	if err != nil {
		logStore.Close()
		transport.Close()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	s := &Store{cfg: cfg, raft: r, fsm: f, transport: transport, logStore: logStore}
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(logStore, logStore, snaps)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("check raft state: %w", err)
		}
		if !has {
			servers := []raft.Server{{ID: rc.LocalID, Address: transport.LocalAddr()}}
			if len(cfg.Peers) > 0 {
				servers = servers[:0]
				for _, p := range cfg.Peers {
					servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
				}
			}
			fut := r.BootstrapCluster(raft.Configuration{Servers: servers})
			if err := fut.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				s.Close()
				return nil, fmt.Errorf("bootstrap raft: %w", err)
			}
		}
	}
	return s, nil
}

// Addr is the raft transport address.
func (s *Store) Addr() string { return string(s.transport.LocalAddr()) }

// IsLeader reports whether this node leads the group.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// LeaderCh signals leadership changes (true when this node becomes leader).
func (s *Store) LeaderCh() <-chan bool { return s.raft.LeaderCh() }

// WaitLeader blocks until this node is the leader or ctx ends.
func (s *Store) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !s.IsLeader() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for raft leadership: %w", ctx.Err())
		case <-t.C:
		}
	}
	// make sure everything committed by earlier leaders is applied here
	return s.raft.Barrier(s.cfg.ApplyTimeout).Error()
}

// Apply replicates c and returns the state machine's response. It fails with
// ErrNotLeader on followers.
func (s *Store) Apply(c Command) (interface{}, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	fut := s.raft.Apply(data, s.cfg.ApplyTimeout)
	if err := fut.Error(); err != nil {
		return nil, wrapRaft("raft apply", err)
	}
	resp := fut.Response()
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}

// Barrier waits until everything committed before it is applied on this
// node (the leader).
func (s *Store) Barrier() error {
	if err := s.raft.Barrier(s.cfg.ApplyTimeout).Error(); err != nil {
		return wrapRaft("raft barrier", err)
	}
	return nil
}

// AddVoter adds a node to the group (or changes its address); it is a
// no-op when the node is already a voter at addr.
func (s *Store) AddVoter(id, addr string) error {
	fut := s.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return fmt.Errorf("read raft configuration: %w", err)
	}
	for _, sv := range fut.Configuration().Servers {
		if string(sv.ID) == id && string(sv.Address) == addr && sv.Suffrage == raft.Voter {
			return nil
		}
	}
	if err := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, s.cfg.ApplyTimeout).Error(); err != nil {
		return wrapRaft("add voter "+id, err)
	}
	return nil
}

// RemoveServer removes a node from the group.
func (s *Store) RemoveServer(id string) error {
	if err := s.raft.RemoveServer(raft.ServerID(id), 0, s.cfg.ApplyTimeout).Error(); err != nil {
		return wrapRaft("remove server "+id, err)
	}
	return nil
}

func wrapRaft(what string, err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		return fmt.Errorf("%s: %w: %v", what, ErrNotLeader, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Job returns a copy of the job.
func (s *Store) Job(id string) (*Job, bool) { return s.fsm.job(id) }

// Jobs returns copies of all jobs, newest first.
func (s *Store) Jobs() []*Job { return s.fsm.list() }

// Close stops the raft node.
func (s *Store) Close() error {
	err := s.raft.Shutdown().Error()
	if cerr := s.transport.Close(); err == nil {
		err = cerr
	}
	if cerr := s.logStore.Close(); err == nil {
		err = cerr
	}
	return err
}
