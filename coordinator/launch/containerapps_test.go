package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

type fakeCredential struct{}

func (fakeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(o.Scopes) != 1 || o.Scopes[0] != "https://management.azure.com/.default" {
		return azcore.AccessToken{}, fmt.Errorf("unexpected scopes %v", o.Scopes)
	}
	return azcore.AccessToken{Token: "arm-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// fakeARM answers the Microsoft.App job calls the launcher makes the way
// ARM does: Jobs - Start (202 with the execution's name and id), Job
// Execution - Stop (200), and ARM error bodies for unknown executions,
// bad API versions and missing tokens.
type fakeARM struct {
	mu       sync.Mutex
	started  []ContainerAppsStartRequest
	running  map[string]bool
	status   map[string]string // execution -> status, as GET reports it
	stopped  []string
	forbid   bool
	jobsPath string
}

func (f *fakeARM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	armError := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	}
	if r.Header.Get("Authorization") != "Bearer arm-token" {
		armError(401, "AuthenticationFailed", "no valid bearer token")
		return
	}
	if r.URL.Query().Get("api-version") != ContainerAppsAPIVersion {
		armError(400, "InvalidApiVersionParameter", "unsupported api-version "+r.URL.Query().Get("api-version"))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.forbid {
		armError(403, "AuthorizationFailed", "the client does not have authorization to perform action 'Microsoft.App/jobs/start/action'")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == f.jobsPath+"/start":
		var req ContainerAppsStartRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Containers) == 0 || req.Containers[0].Image == "" {
			armError(400, "InvalidRequestContent", fmt.Sprintf("bad template: %v", err))
			return
		}
		f.started = append(f.started, req)
		name := fmt.Sprintf("caj-executor-%d", len(f.started))
		f.running[name] = true
		if f.status == nil {
			f.status = map[string]string{}
		}
		f.status[name] = "Running"
		w.Header().Set("Location", "https://management.azure.com"+f.jobsPath+"/executions/"+name)
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"name": name, "id": f.jobsPath + "/executions/" + name})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, f.jobsPath+"/executions/") && strings.HasSuffix(r.URL.Path, "/stop"):
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, f.jobsPath+"/executions/"), "/stop")
		if !f.running[name] {
			armError(404, "ResourceNotFound", "execution "+name+" not found")
			return
		}
		delete(f.running, name)
		f.stopped = append(f.stopped, name)
		f.status[name] = "Stopped"
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, f.jobsPath+"/executions/"):
		name := strings.TrimPrefix(r.URL.Path, f.jobsPath+"/executions/")
		st, ok := f.status[name]
		if !ok {
			armError(404, "ResourceNotFound", "execution "+name+" not found")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"name": name, "properties": map[string]string{"status": st}})
	default:
		armError(404, "ResourceNotFound", r.Method+" "+r.URL.Path)
	}
}

func TestContainerAppsLauncher(t *testing.T) {
	arm := &fakeARM{running: map[string]bool{}, jobsPath: "/subscriptions/sub-1/resourceGroups/rg-sluice/providers/Microsoft.App/jobs/caj-executor"}
	srv := httptest.NewServer(arm)
	defer srv.Close()
	l, err := NewContainerApps(ContainerAppsConfig{
		SubscriptionID: "sub-1", ResourceGroup: "rg-sluice", JobName: "caj-executor",
		Image: "example.azurecr.io/sluice:1", CPU: 1, Memory: "2Gi",
		SecretEnv:  map[string]string{"SLUICE_TOKEN": "sluice-token"},
		Endpoint:   srv.URL,
		Credential: fakeCredential{},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pid, err := l.Launch(ctx, Request{ExecutorID: "job1-e0", Args: []string{"--coordinator", "http://10.40.1.10:8081", "--id", "job1-e0"}, Env: []string{"SLUICE_ATTEMPT=1", "SLUICE_TOKEN=plain-secret"}})
	if err != nil || pid <= 0 {
		t.Fatalf("launch: pid %d, %v", pid, err)
	}
	if len(arm.started) != 1 {
		t.Fatalf("started %d executions", len(arm.started))
	}
	c := arm.started[0].Containers[0]
	if c.Name != "executor" || c.Image != "example.azurecr.io/sluice:1" || strings.Join(c.Command, " ") != "sluice executor" ||
		strings.Join(c.Args, " ") != "--coordinator http://10.40.1.10:8081 --id job1-e0" || c.Resources == nil || c.Resources.Memory != "2Gi" {
		t.Fatalf("execution template: %+v", c)
	}
	env := map[string]caEnv{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["SLUICE_ATTEMPT"].Value != "1" || env["SLUICE_TOKEN"].SecretRef != "sluice-token" || env["SLUICE_TOKEN"].Value != "" {
		t.Fatalf("execution env: %+v", c.Env)
	}
	if _, err := l.Launch(ctx, Request{ExecutorID: "job1-e0"}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second launch of the same executor: %v", err)
	}
	if _, err := l.Launch(ctx, Request{ExecutorID: "../evil"}); err == nil {
		t.Fatal("invalid executor id accepted")
	}

	if err := l.Kill("job1-e0"); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if len(arm.stopped) != 1 || arm.stopped[0] != "caj-executor-1" {
		t.Fatalf("stopped %v", arm.stopped)
	}
	if err := l.Kill("job1-e0"); err == nil {
		t.Fatal("second kill succeeded")
	}

	// ARM refusals come back with ARM's code and message.
	arm.mu.Lock()
	arm.forbid = true
	arm.mu.Unlock()
	_, err = l.Launch(ctx, Request{ExecutorID: "job1-e1"})
	if err == nil || !strings.Contains(err.Error(), "403 AuthorizationFailed") {
		t.Fatalf("forbidden launch: %v", err)
	}
	if _, ok := l.Execution("job1-e1"); ok {
		t.Fatal("a failed launch was recorded")
	}
}

// TestContainerAppsLauncherReportsExits checks that the launcher notices an
// execution's end by polling its status: a succeeded one exits cleanly, a
// failed one with an error, a stopped one as asked for.
func TestContainerAppsLauncherReportsExits(t *testing.T) {
	arm := &fakeARM{running: map[string]bool{}, jobsPath: "/subscriptions/sub-1/resourceGroups/rg-sluice/providers/Microsoft.App/jobs/caj-executor"}
	srv := httptest.NewServer(arm)
	defer srv.Close()
	exits := make(chan Exit, 4)
	l, err := NewContainerApps(ContainerAppsConfig{
		SubscriptionID: "sub-1", ResourceGroup: "rg-sluice", JobName: "caj-executor", Image: "sluice:test",
		Endpoint: srv.URL, Credential: fakeCredential{}, PollInterval: 10 * time.Millisecond,
		OnExit: func(e Exit) { exits <- e },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for _, id := range []string{"j-s0-a1", "j-s1-a1", "j-s2-a1"} {
		if _, err := l.Launch(ctx, Request{ExecutorID: id}); err != nil {
			t.Fatal(err)
		}
	}
	set := func(id, status string) {
		name, _ := l.Execution(id)
		arm.mu.Lock()
		arm.status[name] = status
		arm.mu.Unlock()
	}
	set("j-s0-a1", "Succeeded")
	set("j-s1-a1", "Failed")
	if err := l.Kill("j-s2-a1"); err != nil {
		t.Fatal(err)
	}
	got := collectExits(t, exits, 3)
	if e := got["j-s0-a1"]; e.Err != nil || e.Stopped {
		t.Errorf("succeeded execution: %+v", e)
	}
	if e := got["j-s1-a1"]; e.Err == nil || !strings.Contains(e.Err.Error(), "Failed") {
		t.Errorf("failed execution: %+v", e)
	}
	if e := got["j-s2-a1"]; !e.Stopped {
		t.Errorf("stopped execution not reported as stopped: %+v", e)
	}
	if _, ok := l.Execution("j-s0-a1"); ok {
		t.Error("an ended execution is still tracked")
	}
}

// TestContainerAppsAdopt has a second launcher (a new coordinator leader)
// take over the executions the first one started, from their handles: it
// stops one (the fake sees the stop call) and reports the end of each
// exactly once, including one that had ended before it was adopted;
// adopting twice changes nothing.
func TestContainerAppsAdopt(t *testing.T) {
	arm := &fakeARM{running: map[string]bool{}, jobsPath: "/subscriptions/sub-1/resourceGroups/rg-sluice/providers/Microsoft.App/jobs/caj-executor"}
	srv := httptest.NewServer(arm)
	defer srv.Close()
	cfg := ContainerAppsConfig{
		SubscriptionID: "sub-1", ResourceGroup: "rg-sluice", JobName: "caj-executor", Image: "sluice:test",
		Endpoint: srv.URL, Credential: fakeCredential{}, PollInterval: 10 * time.Millisecond,
	}
	// the old leader: it starts the executions, then goes away without
	// seeing any of them end
	old, err := NewContainerApps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := []string{"j-s0-a1", "j-s1-a1", "j-s2-a1", "j-s3-a1"}
	handles := map[string]string{}
	for _, id := range ids {
		if _, err := old.Launch(ctx, Request{ExecutorID: id}); err != nil {
			t.Fatal(err)
		}
		h, ok := old.Handle(id)
		if !ok || h == "" {
			t.Fatalf("no handle for %s", id)
		}
		handles[id] = h
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Launch(ctx, Request{ExecutorID: "j-s9-a1"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("launch after close: %v", err)
	}
	set := func(id, status string) {
		arm.mu.Lock()
		arm.status[handles[id]] = status
		arm.mu.Unlock()
	}
	set("j-s3-a1", "Succeeded") // ended while no leader watched it

	// the new leader
	exits := make(chan Exit, 8)
	cfg.OnExit = func(e Exit) { exits <- e }
	l, err := NewContainerApps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Kill("j-s0-a1"); err == nil {
		t.Fatal("killed an executor before adopting it")
	}
	for _, id := range ids {
		for range 2 { // adopting twice is harmless
			if err := l.Adopt(id, handles[id]); err != nil {
				t.Fatalf("adopt %s: %v", id, err)
			}
		}
		if h, ok := l.Handle(id); !ok || h != handles[id] {
			t.Fatalf("handle of adopted %s: %q %v", id, h, ok)
		}
	}
	if err := l.Adopt("j-s0-a1", "caj-executor-99"); err == nil || !strings.Contains(err.Error(), handles["j-s0-a1"]) {
		t.Fatalf("adopting a tracked executor under another execution: %v", err)
	}
	for _, bad := range [][2]string{{"../evil", "caj-executor-1"}, {"j-s5-a1", ""}, {"j-s5-a1", "x/../../stop"}} {
		if err := l.Adopt(bad[0], bad[1]); err == nil {
			t.Fatalf("adopt %q as %q accepted", bad[0], bad[1])
		}
	}

	if err := l.Kill("j-s0-a1"); err != nil {
		t.Fatalf("kill an adopted executor: %v", err)
	}
	arm.mu.Lock()
	stopped := append([]string(nil), arm.stopped...)
	arm.mu.Unlock()
	if len(stopped) != 1 || stopped[0] != handles["j-s0-a1"] {
		t.Fatalf("the fake saw stops of %v, want [%s]", stopped, handles["j-s0-a1"])
	}
	set("j-s1-a1", "Succeeded")
	set("j-s2-a1", "Failed")

	got := collectExits(t, exits, len(ids))
	if e := got["j-s0-a1"]; !e.Stopped || e.Err == nil || !strings.Contains(e.Err.Error(), "Stopped") {
		t.Errorf("killed execution: %+v", e)
	}
	if e := got["j-s1-a1"]; e.Err != nil || e.Stopped {
		t.Errorf("succeeded execution: %+v", e)
	}
	if e := got["j-s2-a1"]; e.Err == nil || !strings.Contains(e.Err.Error(), "Failed") {
		t.Errorf("failed execution: %+v", e)
	}
	if e := got["j-s3-a1"]; e.Err != nil || e.Stopped {
		t.Errorf("execution that ended before the adoption: %+v", e)
	}
	for _, id := range ids {
		if _, ok := l.Handle(id); ok {
			t.Errorf("ended %s is still tracked", id)
		}
	}
	if err := l.Kill("j-s1-a1"); err == nil {
		t.Fatal("killed an executor whose end was reported")
	}
	// an execution ARM no longer knows is reported vanished
	if err := l.Adopt("j-s7-a1", "caj-executor-404"); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-exits:
		if e.ExecutorID != "j-s7-a1" || e.Err == nil || !strings.Contains(e.Err.Error(), "Vanished") {
			t.Fatalf("exit of a vanished execution: %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the end of an unknown execution was not reported")
	}
	// Close waits for every watcher: whatever any of them reported is in
	// the channel now, and there must be nothing more
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-exits:
		t.Fatalf("a second exit report: %+v", e)
	default:
	}
	if err := l.Adopt("j-s8-a1", "caj-executor-1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("adopt after close: %v", err)
	}
}

// collectExits waits for n exits, failing on one reported twice.
func collectExits(t *testing.T, exits <-chan Exit, n int) map[string]Exit {
	t.Helper()
	got := map[string]Exit{}
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case e := <-exits:
			if _, dup := got[e.ExecutorID]; dup {
				t.Fatalf("exit of %s reported twice", e.ExecutorID)
			}
			got[e.ExecutorID] = e
		case <-timeout:
			t.Fatalf("exits reported: %v", got)
		}
	}
	return got
}
