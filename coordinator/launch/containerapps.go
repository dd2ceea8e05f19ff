package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/rs/zerolog"
)

// ContainerAppsAPIVersion is the Microsoft.App API version the launcher uses.
const ContainerAppsAPIVersion = "2024-03-01"

// ContainerAppsConfig configures a ContainerApps launcher.
type ContainerAppsConfig struct {
	SubscriptionID string
	ResourceGroup  string
	// JobName is the Container Apps Job (manual trigger) whose executions
	// run executors, e.g. the one terraform/ deploys.
	JobName string
	// Container is the job template's container name ("executor").
	Container string
	// Image is the executor image; an execution's template replaces the
	// job's, so it is required.
	Image string
	// Command runs the binary; default ["sluice", "executor"].
	Command []string
	// CPU (vCPUs) and Memory (e.g. "2Gi") of one executor; zero/empty
	// leaves them out.
	CPU    float64
	Memory string
	// SecretEnv maps environment variables to the job's secrets (e.g.
	// SLUICE_TOKEN -> sluice-token): the token never leaves Key Vault.
	SecretEnv map[string]string
	// Endpoint is the ARM endpoint; default https://management.azure.com.
	Endpoint string
	// Credential gets ARM tokens (e.g. azidentity's managed identity).
	Credential azcore.TokenCredential
	// HTTP defaults to a client with a 30 s timeout.
	HTTP   *http.Client
	Logger zerolog.Logger
}

// ContainerApps launches each executor as one execution of a Container
// Apps Job: POST .../jobs/{job}/start with the executor's args and env as
// the execution template, and Kill stops the execution. Nothing runs, or is
// billed, between jobs.
type ContainerApps struct {
	cfg ContainerAppsConfig

	mu    sync.Mutex
	execs map[string]string // executor id -> execution name
	next  int               // pseudo pids
}

// NewContainerApps returns the launcher.
func NewContainerApps(cfg ContainerAppsConfig) (*ContainerApps, error) {
	switch {
	case cfg.SubscriptionID == "" || cfg.ResourceGroup == "" || cfg.JobName == "":
		return nil, errors.New("container apps launcher: subscription, resource group and job name are required")
	case cfg.Image == "":
		return nil, errors.New("container apps launcher: image is required")
	case cfg.Credential == nil:
		return nil, errors.New("container apps launcher: credential is required")
	}
	if cfg.Container == "" {
		cfg.Container = "executor"
	}
	if len(cfg.Command) == 0 {
		cfg.Command = []string{"sluice", "executor"}
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = "https://management.azure.com"
	}
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	cfg.Logger = cfg.Logger.With().Str("component", "containerapps-launcher").Logger()
	return &ContainerApps{cfg: cfg, execs: map[string]string{}}, nil
}

type caEnv struct {
	Name      string `json:"name"`
	Value     string `json:"value,omitempty"`
	SecretRef string `json:"secretRef,omitempty"`
}

type caResources struct {
	CPU    float64 `json:"cpu,omitempty"`
	Memory string  `json:"memory,omitempty"`
}

type caContainer struct {
	Name      string       `json:"name"`
	Image     string       `json:"image"`
	Command   []string     `json:"command,omitempty"`
	Args      []string     `json:"args,omitempty"`
	Env       []caEnv      `json:"env,omitempty"`
	Resources *caResources `json:"resources,omitempty"`
}

// ContainerAppsStartRequest is the body of the Jobs - Start call (a
// JobExecutionTemplate).
type ContainerAppsStartRequest struct {
	Containers []caContainer `json:"containers"`
}

func (l *ContainerApps) jobURL(suffix string) string {
	c := l.cfg
	return fmt.Sprintf("%s/subscriptions/%s/resourceGroups/%s/providers/Microsoft.App/jobs/%s%s?api-version=%s",
		c.Endpoint, url.PathEscape(c.SubscriptionID), url.PathEscape(c.ResourceGroup), url.PathEscape(c.JobName), suffix, ContainerAppsAPIVersion)
}

// Launch starts an execution for the executor and returns a pseudo pid.
func (l *ContainerApps) Launch(ctx context.Context, r Request) (int, error) {
	if !idPattern.MatchString(r.ExecutorID) {
		return 0, fmt.Errorf("launch executor %q: invalid id: want [A-Za-z0-9._-]+, not starting with '.'", r.ExecutorID)
	}
	l.mu.Lock()
	_, dup := l.execs[r.ExecutorID]
	l.mu.Unlock()
	if dup {
		return 0, fmt.Errorf("launch executor %s: already running", r.ExecutorID)
	}
	ctr := caContainer{Name: l.cfg.Container, Image: l.cfg.Image, Command: l.cfg.Command, Args: r.Args}
	if l.cfg.CPU > 0 || l.cfg.Memory != "" {
		ctr.Resources = &caResources{CPU: l.cfg.CPU, Memory: l.cfg.Memory}
	}
	overridden := map[string]bool{}
	for _, kv := range r.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return 0, fmt.Errorf("launch executor %s: env entry %q is not KEY=value", r.ExecutorID, kv)
		}
		overridden[k] = true
		ctr.Env = append(ctr.Env, caEnv{Name: k, Value: v})
	}
	for k, secret := range l.cfg.SecretEnv {
		if !overridden[k] {
			ctr.Env = append(ctr.Env, caEnv{Name: k, SecretRef: secret})
		}
	}
	var out struct {
		Name string `json:"name"`
		ID   string `json:"id"`
	}
	if err := l.call(ctx, l.jobURL("/start"), ContainerAppsStartRequest{Containers: []caContainer{ctr}}, &out); err != nil {
		return 0, fmt.Errorf("launch executor %s: %w", r.ExecutorID, err)
	}
	if out.Name == "" {
		return 0, fmt.Errorf("launch executor %s: start answered no execution name", r.ExecutorID)
	}
	l.mu.Lock()
	l.execs[r.ExecutorID] = out.Name
	l.next++
	pid := l.next
	l.mu.Unlock()
	l.cfg.Logger.Info().Str("executor", r.ExecutorID).Str("execution", out.Name).Msg("executor execution started")
	return pid, nil
}

// Kill stops the executor's execution.
func (l *ContainerApps) Kill(executorID string) error {
	l.mu.Lock()
	name, ok := l.execs[executorID]
	l.mu.Unlock()
	if !ok {
		return fmt.Errorf("kill executor %s: not launched here", executorID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.call(ctx, l.jobURL("/executions/"+url.PathEscape(name)+"/stop"), nil, nil); err != nil {
		return fmt.Errorf("kill executor %s (execution %s): %w", executorID, name, err)
	}
	l.mu.Lock()
	delete(l.execs, executorID)
	l.mu.Unlock()
	return nil
}

// Execution returns the execution name of a launched executor.
func (l *ContainerApps) Execution(executorID string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	name, ok := l.execs[executorID]
	return name, ok
}

func (l *ContainerApps) call(ctx context.Context, u string, in, out any) error {
	tok, err := l.cfg.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		return fmt.Errorf("get ARM token: %w", err)
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.cfg.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("azure answered %d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("azure answered %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}
