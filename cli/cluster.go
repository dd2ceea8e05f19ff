package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator"
	"github.com/sluicehq/sluice/coordinator/launch"
	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/operator"
)

// clusterConfig describes an embedded single-node cluster.
type clusterConfig struct {
	DataDir  string // holds bucket/, raft/, logs/
	RaftDir  string // default DataDir/raft
	Bucket   string // default file://DataDir/bucket
	Addr     string // HTTP listen address; default 127.0.0.1:0
	Token    string
	Registry *operator.Registry
	Stdout   io.Writer // executors' stdout (print sink)
	Logger   zerolog.Logger
	// RetainEnded and RetainEndedMax are coordinator.Config's.
	RetainEnded    time.Duration
	RetainEndedMax int
}

// cluster is a running embedded cluster: raft store, coordinator, process
// launcher and HTTP API.
type cluster struct {
	URL     string
	Bucket  string
	DataDir string

	store    *store.Store
	coord    *coordinator.Coordinator
	launcher *launch.Process
	srv      *http.Server
	cancel   context.CancelFunc
	done     chan struct{}
}

func startCluster(ctx context.Context, cfg clusterConfig) (*cluster, error) {
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if cfg.RaftDir == "" {
		cfg.RaftDir = filepath.Join(dataDir, "raft")
	}
	bucket := cfg.Bucket
	if bucket == "" {
		dir := filepath.Join(dataDir, "bucket")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create default bucket: %w", err)
		}
		bucket = "file://" + filepath.ToSlash(dir)
	}
	if bucket, err = blobstate.Normalize(bucket); err != nil {
		return nil, err
	}
	// fail now, not at the first job, if the bucket cannot be opened
	b, err := blobstate.Open(ctx, bucket)
	if err != nil {
		return nil, err
	}
	_ = b.Close()

	st, err := store.Open(store.Config{Dir: cfg.RaftDir, Bootstrap: true, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	c := &cluster{Bucket: bucket, DataDir: dataDir, store: st, done: make(chan struct{})}
	var coord *coordinator.Coordinator
	c.launcher = launch.NewProcess(launch.ProcessConfig{
		LogDir: filepath.Join(dataDir, "logs"),
		Stdout: cfg.Stdout,
		Logger: cfg.Logger,
	}, func(e launch.Exit) {
		if coord != nil {
			coord.ExecutorExited(e)
		}
	})
	coord, err = coordinator.New(coordinator.Config{
		Store: st, Registry: cfg.Registry, Launcher: c.launcher,
		OpenBucket: blobstate.Open, Bucket: bucket, Token: cfg.Token, Logger: cfg.Logger,
		RetainEnded: cfg.RetainEnded, RetainEndedMax: cfg.RetainEndedMax,
	})
	if err != nil {
		c.launcher.Close()
		st.Close()
		return nil, err
	}
	c.coord = coord

	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		c.launcher.Close()
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	c.URL = "http://" + ln.Addr().String()
	coord.SetURL(c.URL)
	c.srv = &http.Server{Handler: coord.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()

	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		if err := coord.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			cfg.Logger.Error().Err(err).Msg("coordinator stopped")
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := coord.WaitLeading(wctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("wait for the coordinator to lead: %w", err)
	}
	return c, nil
}

// Close stops everything; executor processes are killed.
func (c *cluster) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
	c.launcher.Close()
	c.cancel()
	<-c.done
	c.coord.Close()
	return c.store.Close()
}
