// Package cli is the sluice command: its subcommands as a library, so that a
// custom binary with its own operators (see examples/customop) is the same
// command with a larger registry. cmd/sluice is a thin main over Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/sluicehq/sluice/executor/operator"
)

// Options configure the command.
type Options struct {
	// Registry holds the operators this binary can run.
	Registry *operator.Registry
	Stdout   io.Writer
	Stderr   io.Writer
}

type command struct {
	summary string
	run     func(ctx context.Context, o *Options, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"run":         {"run a job on an embedded local cluster, show progress, exit", runCmd},
		"local":       {"run a local cluster (coordinator + process launcher) serving the HTTP API", localCmd},
		"submit":      {"submit a job to a running cluster", submitCmd},
		"jobs":        {"list the jobs of a running cluster", jobsCmd},
		"status":      {"show one job of a running cluster", statusCmd},
		"cancel":      {"cancel a job (optionally after a savepoint)", cancelCmd},
		"savepoint":   {"take a savepoint of a running job", savepointCmd},
		"checkpoints": {"show a job's checkpoints", checkpointsCmd},
		"executor":    {"(internal) one executor process; started by the launcher", executorCmd},
		"history":     {"serve the archived jobs of a bucket: API and web UI", historyCmd},
		"coordinator": {"run one coordinator node of a Raft group (executors run on agents)", coordinatorCmd},
		"agent":       {"run an agent on a worker host: it starts executors for the coordinator group", agentCmd},
		"cluster":     {"show the coordinator group (members, leader, agents); join or remove a node", clusterCmd},
		"functions":   {"run the Azure Functions custom handler (HTTP triggers) for a coordinator group", functionsCmd},
	}
}

// Main runs the command line args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, o Options) int {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(o.Stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(o.Stderr, "sluice: unknown command %q\n\n", args[0])
		usage(o.Stderr, cmds)
		return 2
	}
	if err := c.run(ctx, &o, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(o.Stderr, "sluice %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(o.Stderr, "sluice %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

type usageError struct{ error }

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "sluice runs Flink-style dataflow jobs in ephemeral executor processes.")
	fmt.Fprintln(w, "\nUsage: sluice <command> [flags] [args]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'sluice <command> -h' for a command's flags.")
}

func newFlagSet(name string, o *Options) *flag.FlagSet {
	fs := flag.NewFlagSet("sluice "+name, flag.ContinueOnError)
	fs.SetOutput(o.Stderr)
	return fs
}

// parse parses flags, allowing them after positional arguments too.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// consoleLogger logs readable lines to a terminal, JSON otherwise.
func consoleLogger(w io.Writer, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		lvl = zerolog.WarnLevel
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}).Level(lvl).With().Timestamp().Logger()
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// daemonLogger logs JSON lines.
func daemonLogger(w io.Writer, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
