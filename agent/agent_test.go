package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/launch"
)

// The test binary doubles as the executor: started as "<bin> executor
// ...", it exits 0 if it got the agent's token and data listen address,
// 7 otherwise.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "executor" {
		args := strings.Join(os.Args, " ")
		if os.Getenv("SLUICE_TOKEN") == "tk" && strings.Contains(args, "--data-listen 127.0.0.1:0") && strings.Contains(args, "--job j1") {
			os.Exit(0)
		}
		os.Exit(7)
	}
	os.Exit(m.Run())
}

// fakeGroup records what an agent tells the coordinators.
type fakeGroup struct {
	mu    sync.Mutex
	beats []api.AgentHeartbeat
	exits []api.AgentExit
}

func (f *fakeGroup) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer tk" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/v1/internal/agent/heartbeat":
		var h api.AgentHeartbeat
		_ = json.NewDecoder(r.Body).Decode(&h)
		f.beats = append(f.beats, h)
	case "/v1/internal/agent/exit":
		var e api.AgentExit
		_ = json.NewDecoder(r.Body).Decode(&e)
		f.exits = append(f.exits, e)
	}
	_, _ = w.Write([]byte("{}"))
}

func (f *fakeGroup) exit(id string) (api.AgentExit, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.exits {
		if e.ExecutorID == id {
			return e, true
		}
	}
	return api.AgentExit{}, false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling
	}
}

// TestAgentLaunchesAndReportsExits registers an agent with a fake group,
// launches an executor through its API (which refuses calls without the
// token) and sees the exit reported to the group.
func TestAgentLaunchesAndReportsExits(t *testing.T) {
	g := &fakeGroup{}
	coord := httptest.NewServer(g)
	defer coord.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			ID: "a1", Slots: 2, Coordinators: "http://127.0.0.1:1," + coord.URL, Token: "tk",
			HeartbeatInterval: 50 * time.Millisecond, Process: launch.ProcessConfig{Binary: os.Args[0]},
		}, ln, "", "")
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	url := "http://" + ln.Addr().String()
	waitFor(t, "a heartbeat (past a dead first node)", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.beats) > 0 && g.beats[0].ID == "a1" && g.beats[0].Slots == 2 && g.beats[0].URL == url
	})

	body, _ := json.Marshal(api.LaunchRequest{ExecutorID: "j1-s0-a1", Args: []string{"--job", "j1"}})
	resp, err := http.Post(url+"/v1/agent/launch", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("launch without a token: %d", resp.StatusCode)
	}
	cl := api.NewClient(url, "tk")
	for _, id := range []string{"j1-s0-a1", "j1-s1-a1"} {
		if _, err := cl.AgentLaunch(context.Background(), api.LaunchRequest{ExecutorID: id, Args: []string{"--job", "j1"}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both exits reported", func() bool {
		a, ok1 := g.exit("j1-s0-a1")
		b, ok2 := g.exit("j1-s1-a1")
		return ok1 && ok2 && a.Agent == "a1" && b.Agent == "a1"
	})
	for _, id := range []string{"j1-s0-a1", "j1-s1-a1"} {
		if e, _ := g.exit(id); e.ExitCode != 0 || e.Error != "" {
			t.Fatalf("executor %s: exit %d %q (no token or data address?)", id, e.ExitCode, e.Error)
		}
	}
}
