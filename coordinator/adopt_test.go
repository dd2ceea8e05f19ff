package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/launch"
	"github.com/sluicehq/sluice/coordinator/store"
)

// launch.ContainerApps is the launcher whose executors a new leader adopts.
var _ Adopter = (*launch.ContainerApps)(nil)

type armCredential struct{}

func (armCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "arm-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// armJobs is a small fake of the ARM calls launch.ContainerApps makes on a
// Container Apps Job (launch/containerapps_test.go has the full one): Jobs
// - Start names a new execution, Job Execution - Stop stops a running one,
// and GET answers an execution's status; unknown executions are 404.
type armJobs struct {
	prefix string // /subscriptions/.../jobs/{job}

	mu        sync.Mutex
	status    map[string]string // execution -> status
	execution map[string]string // executor id (from its args) -> execution
	stopped   []string          // executions, in the order they were stopped
}

func (f *armJobs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	armError := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	}
	if r.Header.Get("Authorization") != "Bearer arm-token" || r.URL.Query().Get("api-version") != launch.ContainerAppsAPIVersion {
		armError(http.StatusBadRequest, "BadRequest", "token or api-version")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	exec, isExec := strings.CutPrefix(r.URL.Path, f.prefix+"/executions/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == f.prefix+"/start":
		var req struct {
			Containers []struct {
				Args []string `json:"args"`
			} `json:"containers"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Containers) != 1 {
			armError(http.StatusBadRequest, "InvalidRequestContent", fmt.Sprintf("bad template: %v", err))
			return
		}
		name := fmt.Sprintf("caj-executor-%d", len(f.status)+1)
		f.status[name] = "Running"
		args := req.Containers[0].Args
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--executor-id" {
				f.execution[args[i+1]] = name
			}
		}
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"name": name, "id": f.prefix + "/executions/" + name})
	case r.Method == http.MethodPost && isExec && strings.HasSuffix(exec, "/stop"):
		name := strings.TrimSuffix(exec, "/stop")
		if f.status[name] != "Running" {
			armError(http.StatusNotFound, "ResourceNotFound", "no running execution "+name)
			return
		}
		f.status[name] = "Stopped"
		f.stopped = append(f.stopped, name)
	case r.Method == http.MethodGet && isExec:
		st, ok := f.status[exec]
		if !ok {
			armError(http.StatusNotFound, "ResourceNotFound", "execution "+exec+" not found")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"name": exec, "properties": map[string]string{"status": st}})
	default:
		armError(http.StatusNotFound, "ResourceNotFound", r.Method+" "+r.URL.Path)
	}
}

func (f *armJobs) set(execution, status string) {
	f.mu.Lock()
	f.status[execution] = status
	f.mu.Unlock()
}

func (f *armJobs) stops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.stopped...)
}

// startACAGroup runs three coordinator nodes over real Raft whose
// executors run as Container Apps Job executions, each node with its own
// launcher, all talking to arm. Closing a node closes its launcher too.
func startACAGroup(t *testing.T, armURL string) []*testNode {
	t.Helper()
	return startTestGroup(t, func(cfg *Config, self func() *Coordinator) func() {
		aca, err := launch.NewContainerApps(launch.ContainerAppsConfig{
			SubscriptionID: "sub-1", ResourceGroup: "rg-sluice", JobName: "caj-executor", Image: "sluice:test",
			Endpoint: armURL, Credential: armCredential{}, PollInterval: 20 * time.Millisecond,
			OnExit: func(e launch.Exit) { self().ExecutorExited(e) }, // set before anything is launched
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Launcher, cfg.CancelGrace = aca, 100*time.Millisecond
		return func() { aca.Close() } // nothing watches this node's executions any more
	})
}

// TestNewLeaderAdoptsContainerAppsExecutors moves leadership while a job's
// executors run as Container Apps Job executions. The leader that launched
// them records their execution names through Raft and dies (its launcher
// with it); the new leader adopts them: it learns from Azure that one
// execution failed, fails the job (no restart), and stops the other one
// after the cancel grace, which it could not do if the execution names had
// lived only in the old leader's memory (the job would stay SCHEDULED
// until the schedule timeout, and the execution would run on).
func TestNewLeaderAdoptsContainerAppsExecutors(t *testing.T) {
	arm := &armJobs{
		prefix: "/subscriptions/sub-1/resourceGroups/rg-sluice/providers/Microsoft.App/jobs/caj-executor",
		status: map[string]string{}, execution: map[string]string{},
	}
	armSrv := httptest.NewServer(arm)
	defer armSrv.Close()
	nodes := startACAGroup(t, armSrv.URL)
	ctx := context.Background()
	l := leaderOf(t, nodes)

	spec, _ := json.Marshal(map[string]any{
		"name":     "adopted",
		"defaults": map[string]any{"parallelism": 2},
		"restart":  map[string]any{"strategy": "none"},
		"vertices": []map[string]any{{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 10}}, {"id": "out", "operator": "print"}},
		"edges":    []map[string]any{{"from": "gen", "to": "out"}},
	})
	id, err := groupClient(nodes).Submit(ctx, spec, "application/json")
	if err != nil {
		t.Fatal(err)
	}
	e0, e1 := executorID(id, 0, 1), executorID(id, 1, 1)
	handle := func(n *testNode, exec string) string {
		j, ok := n.st.Job(id)
		if !ok {
			return ""
		}
		for _, e := range j.Executors {
			if e.ID == exec {
				return e.Handle
			}
		}
		return ""
	}
	// every node, the next leader among them, has the execution names
	waitUntil(t, 20*time.Second, "the execution names in every node's store", func() bool {
		arm.mu.Lock()
		x0, x1 := arm.execution[e0], arm.execution[e1]
		arm.mu.Unlock()
		for _, n := range nodes {
			if x0 == "" || x1 == "" || handle(n, e0) != x0 || handle(n, e1) != x1 {
				return false
			}
		}
		return true
	})
	x0, x1 := handle(nodes[l], e0), handle(nodes[l], e1)
	l = leaderOf(t, nodes) // the same node, unless leadership moved already
	for _, x := range []string{e0, e1} {
		if _, ok := nodes[l].c.launcher.(Adopter).Handle(x); !ok {
			t.Fatalf("the leader's launcher does not track %s", x)
		}
	}

	nodes[l].close() // the leader dies; its launcher stops watching
	waitUntil(t, 20*time.Second, "a new leader", func() bool {
		for i, n := range nodes {
			if i != l && n.c.leading() {
				return true
			}
		}
		return false
	})
	arm.set(x0, "Failed")

	var j *api.Job
	waitUntil(t, 30*time.Second, "the job to fail", func() bool {
		j, err = groupClient(nodes).Job(ctx, id)
		return err == nil && j.State == api.JobFailed
	})
	if !strings.Contains(j.Error, e0) || !strings.Contains(j.Error, "ended Failed") {
		t.Errorf("the job's error should name the failed execution: %q", j.Error)
	}
	if got := arm.stops(); len(got) != 1 || got[0] != x1 {
		t.Fatalf("stopped executions %v, want [%s] (the one still running)", got, x1)
	}
	var sj *store.Job
	for i, n := range nodes {
		if i != l && n.c.leading() {
			sj, _ = n.st.Job(id)
		}
	}
	if sj == nil {
		t.Fatal("no leader holds the job")
	}
	for _, e := range sj.Executors {
		want := map[string]string{e0: "ended Failed", e1: "ended Stopped"}[e.ID]
		if !e.Exited || !strings.Contains(e.ExitInfo, want) {
			t.Errorf("executor %s: exited %v, %q; want it to say %q", e.ID, e.Exited, e.ExitInfo, want)
		}
	}
	arm.mu.Lock()
	started := len(arm.status)
	arm.mu.Unlock()
	if started != 2 {
		t.Errorf("%d executions started, want 2", started)
	}
}
