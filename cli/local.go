package cli

import (
	"context"
	"fmt"
	"os"
)

func localCmd(ctx context.Context, o *Options, args []string) error {
	fs := newFlagSet("local", o)
	addr := fs.String("addr", envOr("SLUICE_ADDR", "127.0.0.1:8081"), "HTTP API listen address")
	dataDir := fs.String("data-dir", envOr("SLUICE_DATA_DIR", ".sluice"), "directory for the default bucket, the raft log and executor logs")
	bucket := fs.String("bucket", envOr("SLUICE_BUCKET", ""), "default bucket URL; default <data-dir>/bucket")
	token := fs.String("token", os.Getenv("SLUICE_TOKEN"), "auth token required from clients and executors (env SLUICE_TOKEN)")
	logLevel := fs.String("log-level", "info", "log level")
	historyAddr := fs.String("history-addr", envOr("SLUICE_HISTORY_ADDR", "127.0.0.1:8082"), "history server listen address; empty for none")
	coordinators := fs.Int("coordinators", 1, "coordinator nodes: 1 (executors are children of the coordinator), or 3 or 5 (a Raft group and an agent, in this process)")
	slots := fs.Int("slots", 8, "the agent's slots, with --coordinators > 1")
	retain := addRetentionFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	retainEnded, retainEndedMax, err := retain.values()
	if err != nil {
		return err
	}
	log := daemonLogger(o.Stderr, *logLevel)
	if *coordinators > 1 {
		return runLocalGroup(ctx, localGroupConfig{
			N: *coordinators, DataDir: *dataDir, Bucket: *bucket, Addr: *addr, Token: *token,
			Slots: *slots, Logger: log, Opts: o, RetainEnded: retainEnded, RetainEndedMax: retainEndedMax,
		})
	}
	c, err := startCluster(ctx, clusterConfig{
		DataDir: *dataDir, Bucket: *bucket, Addr: *addr, Token: *token,
		Registry: o.Registry, Stdout: o.Stdout, Logger: log,
		RetainEnded: retainEnded, RetainEndedMax: retainEndedMax,
	})
	if err != nil {
		return err
	}
	log.Info().Str("api", c.URL).Str("bucket", c.Bucket).Msg("sluice local cluster up")
	fmt.Fprintf(o.Stdout, "sluice local: API on %s, bucket %s\n", c.URL, c.Bucket)
	h, err := startHistory(ctx, c.Bucket, *historyAddr, log, o.Stdout)
	if err != nil { // the cluster is of use without it (a second one on this host, say)
		log.Warn().Err(err).Msg("history server not started")
	}
	defer h.Close()
	<-ctx.Done()
	log.Info().Msg("shutting down")
	return c.Close()
}
