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
	"sort"
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
	HTTP *http.Client
	// PollInterval is how often the launcher reads a running execution's
	// status to notice its end; default 5 s.
	PollInterval time.Duration
	// OnExit is told, once, when an execution has ended (succeeded, failed,
	// stopped, or vanished).
	OnExit func(Exit)
	Logger zerolog.Logger
}

// ContainerApps launches each executor as one execution of a Container
// Apps Job: POST .../jobs/{job}/start with the executor's args and env as
// the execution template, and Kill stops the execution. Nothing runs, or is
// billed, between jobs.
//
// An execution does not depend on the process that started it, so another
// ContainerApps (a new coordinator leader) can take it over: Handle names
// the execution of a launched executor, and Adopt, given that name, makes
// the executor its own, so that Kill stops it and its end is reported to
// OnExit.
type ContainerApps struct {
	cfg ContainerAppsConfig

	mu      sync.Mutex
	execs   map[string]string // executor id -> execution name
	stopped map[string]bool   // executors whose stop was asked for
	next    int               // pseudo pids
	closed  bool

	ctx    context.Context // ends watchers on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
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
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Second
	}
	cfg.Logger = cfg.Logger.With().Str("component", "containerapps-launcher").Logger()
	ctx, cancel := context.WithCancel(context.Background())
	return &ContainerApps{cfg: cfg, execs: map[string]string{}, stopped: map[string]bool{}, ctx: ctx, cancel: cancel}, nil
}

// Close stops watching executions (it does not stop them); Launch and
// Adopt fail from then on.
func (l *ContainerApps) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	return nil
}

// terminal execution states of a Container Apps Job execution.
var terminalStatus = map[string]bool{"Succeeded": true, "Failed": true, "Stopped": true, "Degraded": true}

// watch polls an execution until it ends, then reports the exit once.
func (l *ContainerApps) watch(executorID, name string, pid int) {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		var out struct {
			Properties struct {
				Status string `json:"status"`
			} `json:"properties"`
		}
		ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
		err := l.call(ctx, http.MethodGet, l.jobURL("/executions/"+url.PathEscape(name)), nil, &out)
		cancel()
		status := out.Properties.Status
		var se *armStatusError
		switch {
		case errors.As(err, &se) && se.status == http.StatusNotFound:
			status = "Vanished"
		case err != nil:
			l.cfg.Logger.Debug().Err(err).Str("execution", name).Msg("read execution status")
			continue
		case !terminalStatus[status]:
			continue
		}
		l.mu.Lock()
		if l.execs[executorID] == name {
			delete(l.execs, executorID)
		}
		stopped := l.stopped[executorID]
		delete(l.stopped, executorID)
		l.mu.Unlock()
		e := Exit{ExecutorID: executorID, PID: pid, Stopped: stopped}
		if status != "Succeeded" {
			e.Err = fmt.Errorf("executor %s (execution %s) ended %s", executorID, name, status)
			e.ExitCode = 1
		}
		l.cfg.Logger.Info().Str("executor", executorID).Str("execution", name).Str("status", status).Msg("executor execution ended")
		if l.cfg.OnExit != nil {
			l.cfg.OnExit(e)
		}
		return
	}
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
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return 0, fmt.Errorf("launch executor %s: %w", r.ExecutorID, ErrClosed)
	}
	if dup {
		return 0, fmt.Errorf("launch executor %s: already running", r.ExecutorID)
	}
	ctr := caContainer{Name: l.cfg.Container, Image: l.cfg.Image, Command: l.cfg.Command, Args: r.Args}
	if l.cfg.CPU > 0 || l.cfg.Memory != "" {
		ctr.Resources = &caResources{CPU: l.cfg.CPU, Memory: l.cfg.Memory}
	}
	for _, kv := range r.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return 0, fmt.Errorf("launch executor %s: env entry %q is not KEY=value", r.ExecutorID, kv)
		}
		if _, secret := l.cfg.SecretEnv[k]; secret {
			continue // never put a secret's value into the execution template
		}
		ctr.Env = append(ctr.Env, caEnv{Name: k, Value: v})
	}
	secretNames := make([]string, 0, len(l.cfg.SecretEnv))
	for k := range l.cfg.SecretEnv {
		secretNames = append(secretNames, k)
	}
	sort.Strings(secretNames)
	for _, k := range secretNames {
		ctr.Env = append(ctr.Env, caEnv{Name: k, SecretRef: l.cfg.SecretEnv[k]})
	}
	var out struct {
		Name string `json:"name"`
		ID   string `json:"id"`
	}
	if err := l.call(ctx, http.MethodPost, l.jobURL("/start"), ContainerAppsStartRequest{Containers: []caContainer{ctr}}, &out); err != nil {
		return 0, fmt.Errorf("launch executor %s: %w", r.ExecutorID, err)
	}
	if out.Name == "" {
		return 0, fmt.Errorf("launch executor %s: start answered no execution name", r.ExecutorID)
	}
	l.mu.Lock()
	pid := l.trackLocked(r.ExecutorID, out.Name)
	l.mu.Unlock()
	l.cfg.Logger.Info().Str("executor", r.ExecutorID).Str("execution", out.Name).Msg("executor execution started")
	return pid, nil
}

// trackLocked records an executor's execution and starts its watcher
// (unless the launcher is closed); it returns the executor's pseudo pid.
// l.mu is held.
func (l *ContainerApps) trackLocked(executorID, name string) int {
	l.execs[executorID] = name
	l.next++
	pid := l.next
	if !l.closed {
		l.wg.Add(1)
		go l.watch(executorID, name, pid)
	}
	return pid
}

// Adopt takes over an executor's execution started by another ContainerApps
// (the launcher of an earlier coordinator leader), given its Handle: from
// then on Kill stops it, and its end is reported to OnExit once, by this
// launcher's watcher. It makes no ARM call: an execution that has already
// ended (or no longer exists) is reported ended at the watcher's first
// look. Adopting an executor this launcher already tracks under the same
// execution does nothing; under another execution it is an error.
func (l *ContainerApps) Adopt(executorID, execution string) error {
	if !idPattern.MatchString(executorID) {
		return fmt.Errorf("adopt executor %q: invalid id: want [A-Za-z0-9._-]+, not starting with '.'", executorID)
	}
	if execution == "" || strings.ContainsAny(execution, "/?#") {
		return fmt.Errorf("adopt executor %s: invalid execution name %q", executorID, execution)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, known := l.execs[executorID]
	switch {
	case l.closed:
		return fmt.Errorf("adopt executor %s: %w", executorID, ErrClosed)
	case known && cur == execution:
		return nil
	case known:
		return fmt.Errorf("adopt executor %s (execution %s): it runs as execution %s here", executorID, execution, cur)
	}
	l.trackLocked(executorID, execution)
	l.cfg.Logger.Info().Str("executor", executorID).Str("execution", execution).Msg("executor execution adopted")
	return nil
}

// Handle returns what Adopt needs to take the executor over: the name of
// its execution, while this launcher tracks it (it launched or adopted it,
// and has not reported its end).
func (l *ContainerApps) Handle(executorID string) (string, bool) {
	return l.Execution(executorID)
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
	l.mu.Lock()
	l.stopped[executorID] = true
	l.mu.Unlock()
	if err := l.call(ctx, http.MethodPost, l.jobURL("/executions/"+url.PathEscape(name)+"/stop"), nil, nil); err != nil {
		return fmt.Errorf("kill executor %s (execution %s): %w", executorID, name, err)
	}
	return nil // the watcher reports the exit
}

// Execution returns the execution name of a launched executor.
func (l *ContainerApps) Execution(executorID string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	name, ok := l.execs[executorID]
	return name, ok
}

// armStatusError is a non-2xx answer of the ARM API.
type armStatusError struct {
	status int
	msg    string
}

func (e *armStatusError) Error() string { return e.msg }

func (l *ContainerApps) call(ctx context.Context, method, u string, in, out any) error {
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
	req, err := http.NewRequestWithContext(ctx, method, u, body)
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
			return &armStatusError{status: resp.StatusCode, msg: fmt.Sprintf("azure answered %d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)}
		}
		return &armStatusError{status: resp.StatusCode, msg: fmt.Sprintf("azure answered %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}
