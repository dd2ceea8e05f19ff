package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/agent"
	"github.com/sluicehq/sluice/coordinator/launch"
)

// agentCmd runs an agent: a worker host's executor launcher for a
// coordinator group.
func agentCmd(ctx context.Context, o *Options, args []string) error {
	fs := newFlagSet("agent", o)
	id := fs.String("id", envOr("SLUICE_AGENT_ID", ""), "agent id, stable across restarts; default the host name")
	slots := fs.Int("slots", 4, "how many executors this host runs at once")
	coords := fs.String("coordinator", envOr("SLUICE_COORDINATOR", "http://127.0.0.1:8081"), "the coordinator nodes' API URLs, comma-separated (env SLUICE_COORDINATOR)")
	addr := fs.String("addr", "127.0.0.1:0", "agent HTTP listen address (the coordinators call it)")
	url := fs.String("url", "", "URL the coordinators use; default from the listener")
	dataDir := fs.String("data-dir", envOr("SLUICE_DATA_DIR", ".sluice"), "directory for executor logs (<data-dir>/agent-<id>/logs)")
	hb := fs.Duration("heartbeat-interval", time.Second, "how often to heartbeat the coordinators")
	logLevel := fs.String("log-level", "info", "log level")
	sec := addSecurityFlags(fs, true)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		h, err := os.Hostname()
		if err != nil {
			return usageError{errors.New("--id is required")}
		}
		*id = h
	}
	token, err := sec.tokenValue()
	if err != nil {
		return err
	}
	cert, key, err := sec.tlsFiles()
	if err != nil {
		return err
	}
	hc, err := sec.httpClient()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	cfg := agent.Config{
		ID: *id, Slots: *slots, Coordinators: *coords, Token: token, URL: *url,
		HeartbeatInterval: *hb, HTTP: hc,
		Process: launch.ProcessConfig{LogDir: filepath.Join(*dataDir, "agent-"+*id, "logs"), Stdout: o.Stdout},
		Logger:  daemonLogger(o.Stderr, *logLevel),
	}
	if *sec.ca != "" {
		cfg.Env = append(cfg.Env, "SLUICE_TLS_CA="+*sec.ca)
	}
	scheme := sec.scheme()
	fmt.Fprintf(o.Stdout, "sluice agent %s: on %s://%s, %d slots\n", *id, scheme, ln.Addr(), *slots)
	return agent.Run(ctx, cfg, ln, cert, key)
}
