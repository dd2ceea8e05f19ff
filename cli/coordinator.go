package cli

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluicehq/sluice/coordinator/launch"
	"os"
	"path/filepath"
	"time"
)

// coordinatorCmd runs one node of a coordinator group. Executors run on
// agents (sluice agent), so they outlive the node.
func coordinatorCmd(ctx context.Context, o *Options, args []string) error {
	fs := newFlagSet("coordinator", o)
	id := fs.String("id", envOr("SLUICE_NODE_ID", "node-1"), "this node's id in the group")
	dataDir := fs.String("data-dir", envOr("SLUICE_DATA_DIR", ".sluice"), "directory for the raft log and snapshots (<data-dir>/raft-<id>)")
	addr := fs.String("addr", envOr("SLUICE_ADDR", "127.0.0.1:8081"), "HTTP API listen address")
	url := fs.String("url", "", "API URL other nodes, agents and executors use; default from --addr")
	raftAddr := fs.String("raft", "127.0.0.1:7081", "raft TCP listen address")
	raftAdv := fs.String("raft-advertise", "", "raft address other nodes use; default --raft")
	peers := fs.String("peers", "", "bootstrap a group of these voters: id=host:port,... (raft addresses, this node included); same list on every initial node")
	join := fs.String("join", "", "join the running group at this API URL instead of bootstrapping")
	bucket := fs.String("bucket", envOr("SLUICE_BUCKET", ""), "default bucket URL, shared by all nodes (required)")
	hbTimeout := fs.Duration("executor-heartbeat-timeout", 15*time.Second, "how long an executor may stay silent")
	agentTimeout := fs.Duration("agent-timeout", 10*time.Second, "how long an agent may stay silent before its executors count as exited")
	retain := addRetentionFlags(fs)
	logLevel := fs.String("log-level", "info", "log level")
	launcherKind := fs.String("launcher", envOr("SLUICE_LAUNCHER", "agents"), "where executors run: agents (sluice agent hosts) or containerapps (one Azure Container Apps Job execution per executor)")
	aca := addContainerAppsFlags(fs)
	sec := addSecurityFlags(fs, true)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *bucket == "" {
		return usageError{errors.New("--bucket is required: every node of the group must use the same bucket")}
	}
	if *peers != "" && *join != "" {
		return usageError{errors.New("--peers bootstraps a new group, --join joins a running one: give one")}
	}
	ps, err := parsePeers(*peers)
	if err != nil {
		return usageError{err}
	}
	retainEnded, retainEndedMax, err := retain.values()
	if err != nil {
		return err
	}
	token, err := sec.tokenValue()
	if err != nil {
		return err
	}
	cert, key, err := sec.tlsFiles()
	if err != nil {
		return err
	}
	raftTLS, err := sec.raftTLS()
	if err != nil {
		return err
	}
	hc, err := sec.httpClient()
	if err != nil {
		return err
	}
	log := daemonLogger(o.Stderr, *logLevel).With().Str("node", *id).Logger()
	raftDir := filepath.Join(*dataDir, "raft-"+*id)
	if err := os.MkdirAll(raftDir, 0o755); err != nil {
		return fmt.Errorf("create raft dir: %w", err)
	}
	var acaCfg *launch.ContainerAppsConfig
	switch *launcherKind {
	case "agents":
	case "containerapps":
		if acaCfg, err = aca.config(); err != nil {
			return err
		}
	default:
		return usageError{fmt.Errorf("--launcher: unknown launcher %q (use agents or containerapps)", *launcherKind)}
	}
	n, err := startNode(ctx, nodeConfig{
		ID: *id, RaftDir: raftDir, RaftBind: *raftAddr, RaftAdv: *raftAdv, Addr: *addr, URL: *url,
		Peers: ps, Join: *join, Bucket: *bucket, Token: token, TLSCert: cert, TLSKey: key, RaftTLS: raftTLS, HTTP: hc,
		ExecutorHeartbeatTimeout: *hbTimeout, AgentTimeout: *agentTimeout,
		RetainEnded: retainEnded, RetainEndedMax: retainEndedMax,
		Registry: o.Registry, Logger: log, ContainerApps: acaCfg,
		CrashAt: os.Getenv("SLUICE_TEST_CRASH_AT"), // fault tests of real processes
	})
	if err != nil {
		return err
	}
	log.Info().Str("api", n.URL).Str("raft", n.store.Addr()).Msg("sluice coordinator up")
	fmt.Fprintf(o.Stdout, "sluice coordinator %s: API on %s, raft on %s\n", *id, n.URL, n.store.Addr())
	<-ctx.Done()
	log.Info().Msg("shutting down")
	return n.Close()
}
