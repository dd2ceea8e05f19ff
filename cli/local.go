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
	if _, err := parse(fs, args); err != nil {
		return err
	}
	log := daemonLogger(o.Stderr, *logLevel)
	c, err := startCluster(ctx, clusterConfig{
		DataDir: *dataDir, Bucket: *bucket, Addr: *addr, Token: *token,
		Registry: o.Registry, Stdout: o.Stdout, Logger: log,
	})
	if err != nil {
		return err
	}
	log.Info().Str("api", c.URL).Str("bucket", c.Bucket).Msg("sluice local cluster up")
	fmt.Fprintf(o.Stdout, "sluice local: API on %s, bucket %s\n", c.URL, c.Bucket)
	<-ctx.Done()
	log.Info().Msg("shutting down")
	return c.Close()
}
