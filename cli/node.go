package cli

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/launch"
	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/operator"
)

// nodeConfig describes one coordinator node of a group whose executors
// run on agents.
type nodeConfig struct {
	ID       string
	RaftDir  string
	RaftBind string
	RaftAdv  string
	Addr     string // HTTP listen address
	URL      string // advertised API URL; default <scheme>://<listener>
	Peers    []store.Peer
	Join     string // URL of a running group to join
	Bucket   string
	Token    string
	TLSCert  string
	TLSKey   string
	// RaftTLS, when set, encrypts raft traffic (from the same
	// --tls-cert/--tls-key, peers verified against --tls-ca).
	RaftTLS *store.TLSConfig
	HTTP    *http.Client

	ExecutorHeartbeatTimeout time.Duration
	AgentTimeout             time.Duration
	// RetainEnded and RetainEndedMax are coordinator.Config's.
	RetainEnded    time.Duration
	RetainEndedMax int
	Registry       *operator.Registry
	Logger         zerolog.Logger
	// ContainerApps, when set, runs executors as Azure Container Apps Job
	// executions instead of on agents.
	ContainerApps *launch.ContainerAppsConfig
	// CrashAt is coordinator.Config's fault-injection point (tests).
	CrashAt string
}

// node is a running coordinator node.
type node struct {
	URL   string
	store *store.Store
	coord *coordinator.Coordinator
	aca   *launch.ContainerApps // nil when executors run on agents
	srv   *http.Server
	stop  context.CancelFunc
	done  chan struct{}
}

// parsePeers reads "id=host:port,id=host:port".
func parsePeers(s string) ([]store.Peer, error) {
	var out []store.Peer
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		id, addr, ok := strings.Cut(p, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--peers: %q is not id=host:port", p)
		}
		out = append(out, store.Peer{ID: id, Addr: addr})
	}
	return out, nil
}

func startNode(ctx context.Context, cfg nodeConfig) (*node, error) {
	bucket, err := blobstate.Normalize(cfg.Bucket)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(store.Config{
		Dir: cfg.RaftDir, NodeID: cfg.ID, BindAddr: cfg.RaftBind, AdvertiseAddr: cfg.RaftAdv,
		Bootstrap: cfg.Join == "", Peers: cfg.Peers, Token: cfg.Token, TLS: cfg.RaftTLS, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	var coord *coordinator.Coordinator
	var launcher coordinator.Launcher // nil: agents
	var aca *launch.ContainerApps
	if cfg.ContainerApps != nil {
		ac := *cfg.ContainerApps
		ac.Logger = cfg.Logger
		ac.OnExit = func(e launch.Exit) {
			if coord != nil {
				coord.ExecutorExited(e)
			}
		}
		if aca, err = launch.NewContainerApps(ac); err != nil {
			st.Close()
			return nil, err
		}
		launcher = aca
	}
	coord, err = coordinator.New(coordinator.Config{
		Store: st, Registry: cfg.Registry, OpenBucket: blobstate.Open, Bucket: bucket,
		Token: cfg.Token, HeartbeatTimeout: cfg.ExecutorHeartbeatTimeout,
		AgentTimeout: cfg.AgentTimeout, HTTP: cfg.HTTP, Logger: cfg.Logger, Launcher: launcher,
		RetainEnded: cfg.RetainEnded, RetainEndedMax: cfg.RetainEndedMax, CrashAt: cfg.CrashAt,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	n := &node{store: st, coord: coord, aca: aca, done: make(chan struct{})}
	n.URL = cfg.URL
	if n.URL == "" {
		scheme := "http"
		if cfg.TLSCert != "" {
			scheme = "https"
		}
		n.URL = scheme + "://" + ln.Addr().String()
	}
	coord.SetURL(n.URL)
	n.srv = &http.Server{Handler: coord.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: stdlog.New(cfg.Logger, "", 0)}
	go func() {
		var err error
		if cfg.TLSCert != "" {
			err = n.srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			err = n.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error().Err(err).Msg("serve")
		}
	}()
	runCtx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	go func() {
		defer close(n.done)
		_ = coord.Run(runCtx)
	}()
	if cfg.Join != "" {
		cl := api.NewClient(cfg.Join, cfg.Token)
		cl.HTTP = cfg.HTTP
		cl.Retry = 30 * time.Second
		if err := cl.Join(ctx, api.JoinRequest{ID: cfg.ID, RaftAddr: st.Addr(), URL: n.URL}); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Close stops the node; the agents' executors keep running.
func (n *node) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.srv.Shutdown(ctx)
	n.stop()
	<-n.done
	n.coord.Close()
	if n.aca != nil {
		_ = n.aca.Close()
	}
	return n.store.Close()
}
