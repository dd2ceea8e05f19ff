// Command customop is the sluice command with one more operator, "reverse",
// which reverses the characters of a string field. It shows how to extend
// Sluice with your own operators: implement operator.Operator, register it
// next to the built-ins, and hand the registry to cli.Main. Executors are
// started from this same binary, so they know the operator too.
//
//	go run ./examples/customop run examples/customop/reverse.json
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
	reg := builtin.NewRegistry()
	reg.MustRegister(Reverse())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Options{Registry: reg})
	stop()
	os.Exit(code)
}
