package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/executor"
)

func executorCmd(ctx context.Context, o *Options, args []string) error {
	fs := newFlagSet("executor", o)
	var cfg executor.Config
	fs.StringVar(&cfg.CoordinatorURL, "coordinator", "", "coordinator API URL")
	fs.StringVar(&cfg.ExecutorID, "executor-id", "", "executor id given by the coordinator")
	fs.StringVar(&cfg.Job, "job", "", "job id")
	fs.IntVar(&cfg.Slot, "slot", 0, "slot index")
	fs.IntVar(&cfg.Attempt, "attempt", 1, "deployment attempt")
	fs.StringVar(&cfg.DataListen, "data-listen", "127.0.0.1:0", "data plane listen address")
	logLevel := fs.String("log-level", envOr("SLUICE_LOG_LEVEL", "info"), "log level")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if cfg.CoordinatorURL == "" || cfg.ExecutorID == "" || cfg.Job == "" {
		return usageError{errors.New("--coordinator, --executor-id and --job are required (executors are started by the coordinator)")}
	}
	cfg.Token = os.Getenv("SLUICE_TOKEN")
	if ca := os.Getenv("SLUICE_TLS_CA"); ca != "" {
		hc, err := httpClientWithCA(ca)
		if err != nil {
			return err
		}
		cfg.HTTP = hc
	}
	cfg.Registry = o.Registry
	cfg.OpenBucket = blobstate.Open
	cfg.Stdout = o.Stdout
	cfg.Logger = daemonLogger(o.Stderr, *logLevel)
	if dir := os.Getenv("SLUICE_CPUPROFILE_DIR"); dir != "" {
		stop, err := startCPUProfile(filepath.Join(dir, cfg.ExecutorID+".prof"))
		if err != nil {
			return err
		}
		defer stop()
	}
	return executor.Run(ctx, cfg)
}

// startCPUProfile profiles the process into path until stop is called; the
// bench harness sets SLUICE_CPUPROFILE_DIR to see where executors spend time.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
