package cli

import (
	"context"
	"fmt"
	"github.com/sluicehq/sluice/blobstate"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/functions"
)

// functionsCmd runs the Azure Functions custom handler: the HTTP triggers
// (submit, list, get, cancel) in front of a coordinator group. Under the
// Functions host it listens on FUNCTIONS_CUSTOMHANDLER_PORT; locally on
// --addr, against a `sluice local` or a coordinator group.
func functionsCmd(ctx context.Context, o *Options, args []string) error {
	fs := newFlagSet("functions", o)
	coords := fs.String("coordinators", envOr(functions.EnvCoordinators, "http://127.0.0.1:8081"), "coordinator node URLs, comma-separated (app setting "+functions.EnvCoordinators+")")
	token := fs.String("token", envOr(functions.EnvToken, ""), "the coordinator group's auth token (app setting "+functions.EnvToken+")")
	addr := fs.String("addr", "127.0.0.1:7071", "listen address when "+functions.EnvPort+" is unset")
	maxBody := fs.Int64("max-body", functions.DefaultMaxBody, "largest accepted request body in bytes")
	specBucket := fs.String("spec-bucket", envOr(functions.EnvSpecBucket, ""), "bucket URL of stored specs that submit's specPath names (app setting "+functions.EnvSpecBucket+"); empty: off")
	logLevel := fs.String("log-level", "info", "log level")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	listen, err := functions.Addr(*addr)
	if err != nil {
		return err
	}
	log := daemonLogger(o.Stderr, *logLevel)
	client := api.NewClient(*coords, *token)
	client.Retry = 10 * time.Second // ride out a leader election
	cfg := functions.Config{Client: client, MaxBody: *maxBody, Logger: log}
	if *specBucket != "" {
		b, err := blobstate.Open(ctx, *specBucket)
		if err != nil {
			return fmt.Errorf("--spec-bucket: %w", err)
		}
		defer b.Close()
		cfg.Specs = b
	}
	h, err := functions.New(cfg)
	if err != nil {
		return err
	}
	return functions.Serve(ctx, listen, h, func(a string) {
		log.Info().Str("addr", a).Str("coordinators", *coords).Msg("functions handler up")
		fmt.Fprintf(o.Stdout, "sluice functions: triggers on http://%s/api/jobs\n", a)
	})
}
