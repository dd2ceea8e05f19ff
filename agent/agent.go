// Package agent is `sluice agent`: the long-running process on a worker
// host that runs executors for a coordinator group. It registers its slots
// with the group and heartbeats; the leader asks it over HTTP to start and
// kill executor processes (POST /v1/agent/launch, /v1/agent/kill), and it
// reports every exit to the leader. Executors are children of the agent,
// not of a coordinator, so they survive coordinator deaths; they die with
// the agent (launch.Process's parent-death signal), and a leader that stops
// hearing from the agent counts them as exited.
package agent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/launch"
)

// Config configures an agent.
type Config struct {
	// ID names the agent in the group; it must stay the same across
	// restarts of the agent on a host. Required.
	ID string
	// Slots is how many executors the agent runs at once. Required.
	Slots int
	// Coordinators lists the group's API URLs, separated by commas.
	Coordinators string
	// Token is required from the coordinators' calls and sent with the
	// agent's; executors get it as SLUICE_TOKEN.
	Token string
	// URL is the address the coordinators use to reach the agent; default
	// http://<listener address>.
	URL string
	// DataHost is the host executors open their data ports on; default
	// the listener's host.
	DataHost string
	// HeartbeatInterval defaults to 1 s.
	HeartbeatInterval time.Duration
	// Process configures the local process launcher (binary, log dir).
	Process launch.ProcessConfig
	// Env is added to executors' environment (SLUICE_TLS_CA, say).
	Env []string
	// HTTP is the client for calls to the coordinators (TLS settings).
	HTTP   *http.Client
	Logger zerolog.Logger
}

// Agent is a running agent.
type Agent struct {
	cfg    Config
	log    zerolog.Logger
	client *api.Client
	procs  *launch.Process

	mu    sync.Mutex
	exits []api.AgentExit
	kick  chan struct{}
}

// Run serves the agent on ln until ctx ends; then it kills its executors.
// tlsCert and tlsKey, when set, serve HTTPS.
func Run(ctx context.Context, cfg Config, ln net.Listener, tlsCert, tlsKey string) error {
	if cfg.ID == "" || cfg.Slots <= 0 || cfg.Coordinators == "" {
		return errors.New("agent: ID, Slots > 0 and Coordinators are required")
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = time.Second
	}
	scheme := "http"
	if tlsCert != "" {
		scheme = "https"
	}
	if cfg.URL == "" {
		cfg.URL = scheme + "://" + ln.Addr().String()
	}
	if cfg.DataHost == "" {
		cfg.DataHost, _, _ = net.SplitHostPort(ln.Addr().String())
	}
	a := &Agent{cfg: cfg, kick: make(chan struct{}, 1)}
	a.log = cfg.Logger.With().Str("component", "agent").Str("agent", cfg.ID).Logger()
	a.client = api.NewClient(cfg.Coordinators, cfg.Token)
	a.client.Retry = 2 * time.Second
	if cfg.HTTP != nil {
		a.client.HTTP = cfg.HTTP
	}
	pc := cfg.Process
	pc.Logger = a.log
	a.procs = launch.NewProcess(pc, a.exited)

	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: stdlog.New(a.log, "", 0)}
	go func() {
		var err error
		if tlsCert != "" {
			err = srv.ServeTLS(ln, tlsCert, tlsKey)
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("serve")
		}
	}()
	a.report(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return a.procs.Close()
}

// exited queues an exit report (launch.Process's onExit).
func (a *Agent) exited(e launch.Exit) {
	ae := api.AgentExit{Agent: a.cfg.ID, ExecutorID: e.ExecutorID, PID: e.PID, ExitCode: e.ExitCode, Stopped: e.Stopped, LogTail: e.LogTail}
	if e.Err != nil {
		ae.Error = e.Err.Error()
	}
	a.mu.Lock()
	a.exits = append(a.exits, ae)
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// report sends exit reports (each until the group takes it) and
// heartbeats, until ctx ends.
func (a *Agent) report(ctx context.Context) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	registered := false
	for {
		a.mu.Lock()
		pending := append([]api.AgentExit(nil), a.exits...)
		a.mu.Unlock()
		sent := 0
		for _, e := range pending {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := a.client.AgentExit(cctx, e)
			cancel()
			if err != nil {
				a.log.Debug().Err(err).Msg("report exit; retrying")
				break
			}
			sent++
		}
		a.mu.Lock()
		a.exits = a.exits[sent:]
		a.mu.Unlock()
		hb := api.AgentHeartbeat{ID: a.cfg.ID, URL: a.cfg.URL, Slots: a.cfg.Slots, Running: a.procs.Running()}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := a.client.AgentHeartbeat(cctx, hb)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Debug().Err(err).Msg("heartbeat")
		case err == nil && !registered:
			registered = true
			a.log.Info().Str("url", a.cfg.URL).Int("slots", a.cfg.Slots).Msg("registered with the coordinators")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.kick:
		}
	}
}

func (a *Agent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/agent/launch", a.handleLaunch)
	mux.HandleFunc("POST /v1/agent/kill", a.handleKill)
	mux.HandleFunc("GET /v1/agent/executors", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"id": a.cfg.ID, "slots": a.cfg.Slots, "running": a.procs.Running()})
	})
	if a.cfg.Token == "" {
		return mux
	}
	want := []byte("Bearer " + a.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			a.log.Warn().Str("path", r.URL.Path).Str("remote", r.RemoteAddr).Msg("refused call without a valid token")
			writeJSON(w, http.StatusUnauthorized, api.Error{Error: "missing or wrong auth token"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (a *Agent) handleLaunch(w http.ResponseWriter, r *http.Request) {
	var req api.LaunchRequest
	if !readJSON(w, r, &req) {
		return
	}
	if n := len(a.procs.Running()); n >= a.cfg.Slots {
		writeJSON(w, http.StatusConflict, api.Error{Error: fmt.Sprintf("agent %s: all %d slots are busy", a.cfg.ID, a.cfg.Slots)})
		return
	}
	args := append(append([]string(nil), req.Args...), "--data-listen", net.JoinHostPort(a.cfg.DataHost, "0"))
	env := append([]string(nil), a.cfg.Env...)
	if a.cfg.Token != "" {
		env = append(env, "SLUICE_TOKEN="+a.cfg.Token)
	}
	pid, err := a.procs.Launch(r.Context(), launch.Request{ExecutorID: req.ExecutorID, Args: args, Env: env})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, api.Error{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, api.LaunchResponse{PID: pid})
}

func (a *Agent) handleKill(w http.ResponseWriter, r *http.Request) {
	var req api.KillRequest
	if !readJSON(w, r, &req) {
		return
	}
	if err := a.procs.Kill(req.ExecutorID); err != nil {
		writeJSON(w, http.StatusInternalServerError, api.Error{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "malformed request: " + err.Error()})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
