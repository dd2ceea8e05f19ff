package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/agent"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/launch"
	"github.com/sluicehq/sluice/coordinator/store"
)

// localGroupConfig describes `sluice local --coordinators N`: N coordinator
// nodes and one agent, all in this process, on 127.0.0.1. The nodes form a
// real Raft group over TCP; the agent's executors are OS processes.
type localGroupConfig struct {
	N       int
	DataDir string
	Bucket  string
	Addr    string // the first node's HTTP address
	Token   string
	Slots   int
	Logger  zerolog.Logger
	Opts    *Options
	// RetainEnded and RetainEndedMax are coordinator.Config's.
	RetainEnded    time.Duration
	RetainEndedMax int
}

func runLocalGroup(ctx context.Context, cfg localGroupConfig) error {
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	bucket := cfg.Bucket
	if bucket == "" {
		dir := filepath.Join(dataDir, "bucket")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create default bucket: %w", err)
		}
		bucket = "file://" + filepath.ToSlash(dir)
	}
	var peers []store.Peer
	for i := 1; i <= cfg.N; i++ {
		addr, err := pickAddr()
		if err != nil {
			return err
		}
		peers = append(peers, store.Peer{ID: fmt.Sprintf("node-%d", i), Addr: addr})
	}
	var nodes []*node
	defer func() {
		for _, n := range nodes {
			_ = n.Close()
		}
	}()
	var urls []string
	for i, p := range peers {
		addr := "127.0.0.1:0"
		if i == 0 {
			addr = cfg.Addr
		}
		n, err := startNode(ctx, nodeConfig{
			ID: p.ID, RaftDir: filepath.Join(dataDir, "raft-"+p.ID), RaftBind: p.Addr, Addr: addr,
			Peers: peers, Bucket: bucket, Token: cfg.Token, Registry: cfg.Opts.Registry,
			RetainEnded: cfg.RetainEnded, RetainEndedMax: cfg.RetainEndedMax,
			Logger: cfg.Logger.With().Str("node", p.ID).Logger(),
		})
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
		urls = append(urls, n.URL)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("agent listen: %w", err)
	}
	agentDone := make(chan error, 1)
	actx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		<-agentDone
	}()
	go func() {
		agentDone <- agent.Run(actx, agent.Config{
			ID: "local", Slots: cfg.Slots, Coordinators: strings.Join(urls, ","), Token: cfg.Token,
			HeartbeatInterval: 500 * time.Millisecond,
			Process:           launch.ProcessConfig{LogDir: filepath.Join(dataDir, "logs"), Stdout: cfg.Opts.Stdout},
			Logger:            cfg.Logger,
		}, ln, "", "")
	}()
	cl := api.NewClient(strings.Join(urls, ","), cfg.Token)
	cl.Retry = 30 * time.Second
	if _, err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("wait for a leader: %w", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := cl.Cluster(ctx)
		if err == nil && len(c.Agents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent did not register within 30 s: %v", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // polling for the agent's first heartbeat
		}
	}
	cfg.Logger.Info().Strs("api", urls).Str("bucket", bucket).Msg("sluice local group up")
	fmt.Fprintf(cfg.Opts.Stdout, "sluice local: API on %s (%d coordinator nodes in this process, one agent with %d slots), bucket %s\n",
		strings.Join(urls, ","), cfg.N, cfg.Slots, bucket)
	<-ctx.Done()
	cfg.Logger.Info().Msg("shutting down")
	return nil
}

// pickAddr returns a free 127.0.0.1 port.
func pickAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a raft port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
