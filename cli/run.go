package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
)

func runCmd(ctx context.Context, o *Options, args []string) error {
	fs := newFlagSet("run", o)
	dataDir := fs.String("data-dir", envOr("SLUICE_DATA_DIR", ".sluice"), "directory for the default bucket, the raft log and executor logs")
	bucket := fs.String("bucket", envOr("SLUICE_BUCKET", ""), "default bucket URL (file:///dir, azblob://container?..., or a directory); default <data-dir>/bucket")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	quiet := fs.Bool("quiet", false, "no live progress, only the summary")
	fromSavepoint := fs.String("from-savepoint", "", "start from this savepoint (its URL or its path in the bucket)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: sluice run [flags] JOB.(json|yaml)\n\nRuns the job on an embedded local cluster (one coordinator, one executor\nprocess per slot) and exits non-zero if it fails.\n\nFlags:")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError{errors.New("need exactly one job spec file")}
	}
	spec, err := jobspec.Load(pos[0])
	if err != nil {
		return err
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	log := consoleLogger(o.Stderr, *logLevel)
	raftDir, err := os.MkdirTemp(mustMkdir(*dataDir), "run-raft-")
	if err != nil {
		return fmt.Errorf("create raft dir: %w", err)
	}
	defer os.RemoveAll(raftDir)

	c, err := startCluster(ctx, clusterConfig{
		DataDir: *dataDir, RaftDir: raftDir, Bucket: *bucket,
		Registry: o.Registry, Stdout: o.Stdout, Logger: log,
	})
	if err != nil {
		return err
	}
	defer c.Close()

	client := api.NewClient(c.URL, "")
	id, err := client.SubmitFromSavepoint(ctx, body, "application/json", *fromSavepoint)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stderr, "job %s submitted: %s\n", id, spec.Name)
	job, err := follow(ctx, client, id, o, !*quiet)
	if err != nil {
		return err
	}
	printSummary(o, job, c.Bucket, filepath.Join(c.DataDir, "logs"))
	if job.State != api.JobFinished {
		return fmt.Errorf("job %s %s: %s", id, job.State, job.Error)
	}
	return nil
}

func mustMkdir(dir string) string {
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

// follow polls the job until it ends, drawing progress; Ctrl-C cancels the
// job and keeps following it to its end.
func follow(ctx context.Context, client *api.Client, id string, o *Options, progress bool) (*api.Job, error) {
	p := newProgress(o.Stderr, isTerminal(o.Stderr))
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	cancelled := false
	start := time.Now()
	for {
		// a fresh context, so that following goes on after Ctrl-C
		qctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		job, err := client.Job(qctx, id)
		cancel()
		if err != nil {
			return nil, err
		}
		if progress {
			p.draw(job, time.Since(start))
		}
		if job.State.Terminal() {
			p.done()
			return job, nil
		}
		select {
		case <-ctx.Done():
			if !cancelled {
				cancelled = true
				fmt.Fprintf(o.Stderr, "\ncancelling job %s...\n", id)
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := client.Cancel(cctx, id)
				cancel()
				if err != nil {
					return nil, err
				}
			}
			<-tick.C
		case <-tick.C:
		}
	}
}
