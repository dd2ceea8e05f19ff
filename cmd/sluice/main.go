// Command sluice runs Flink-style dataflow jobs: see 'sluice help'.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/executor/builtin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Options{Registry: builtin.NewRegistry()})
	stop()
	os.Exit(code)
}
