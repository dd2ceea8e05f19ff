package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StatusError is a non-2xx answer from the coordinator.
type StatusError struct {
	Status  int
	Message string
	Details []string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("coordinator answered %d: %s", e.Status, e.Message)
	if len(e.Details) > 0 {
		msg += "\n  " + strings.Join(e.Details, "\n  ")
	}
	return msg
}

// IsStatus reports whether err is a StatusError with the given status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

// Client calls a coordinator group's HTTP API. Any node serves any call
// (followers forward to the leader), so the client tries the nodes in turn
// when one is unreachable or has no leader, and sticks to the last one that
// answered. It is safe for concurrent use.
type Client struct {
	// BaseURL is a coordinator node's address, e.g. http://127.0.0.1:8081,
	// or several separated by commas.
	BaseURL string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP defaults to a client with a 75 s timeout (long polls take 30 s).
	HTTP *http.Client
	// Retry is how long a call keeps trying the nodes while none answers
	// or none has a leader (503); zero tries each node once.
	Retry time.Duration

	mu  sync.Mutex
	cur int // index of the node that answered last
}

// NewClient returns a client for baseURL, which may list several nodes
// separated by commas.
func NewClient(baseURL, token string) *Client {
	return &Client{
		BaseURL: baseURL,
		Token:   token,
		HTTP:    &http.Client{Timeout: 75 * time.Second},
	}
}

// URLs returns the nodes the client knows.
func (c *Client) URLs() []string { return SplitURLs(c.BaseURL) }

// SplitURLs splits a comma-separated list of node URLs.
func SplitURLs(list string) []string {
	var out []string
	for _, u := range strings.Split(list, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// retryable reports whether another node (or a later try) may succeed.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status == http.StatusServiceUnavailable || se.Status == http.StatusBadGateway
	}
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) {
		return false // another try will not trust the certificate either
	}
	return true // the node is unreachable or the connection broke
}

// Submit posts a job spec (JSON or YAML bytes) and returns the job id.
// Each call sends a new idempotency key, the same on every retry of the
// call, so that a retry after a lost answer creates no second job.
func (c *Client) Submit(ctx context.Context, spec []byte, contentType string) (string, error) {
	return c.SubmitFromSavepoint(ctx, spec, contentType, "")
}

// Jobs lists the jobs.
func (c *Client) Jobs(ctx context.Context) ([]JobSummary, error) {
	var out JobList
	if err := c.do(ctx, http.MethodGet, "/v1/jobs", "", nil, &out); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out.Jobs, nil
}

// Job returns one job's status.
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	var out Job
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), "", nil, &out); err != nil {
		return nil, fmt.Errorf("get job %s: %w", id, err)
	}
	return &out, nil
}

// Cancel asks the coordinator to cancel a job.
func (c *Client) Cancel(ctx context.Context, id string) (*CancelResponse, error) {
	var out CancelResponse
	if err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/cancel", "", nil, &out); err != nil {
		return nil, fmt.Errorf("cancel job %s: %w", id, err)
	}
	return &out, nil
}

// Register announces an executor.
func (c *Client) Register(ctx context.Context, r RegisterRequest) error {
	if err := c.postJSON(ctx, "/v1/internal/register", r, nil); err != nil {
		return fmt.Errorf("register executor %s: %w", r.ExecutorID, err)
	}
	return nil
}

// Deployment waits up to wait for the executor's deployment. It returns nil,
// nil when none is ready yet.
func (c *Client) Deployment(ctx context.Context, executorID string, wait time.Duration) (*Deployment, error) {
	q := url.Values{"executor": {executorID}, "wait": {wait.String()}}
	var out Deployment
	err := c.do(ctx, http.MethodGet, "/v1/internal/deployment?"+q.Encode(), "", nil, &out)
	if IsStatus(err, http.StatusNoContent) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch deployment of %s: %w", executorID, err)
	}
	return &out, nil
}

// Heartbeat reports an executor's metrics.
func (c *Client) Heartbeat(ctx context.Context, h Heartbeat) (*HeartbeatResponse, error) {
	var out HeartbeatResponse
	if err := c.postJSON(ctx, "/v1/internal/heartbeat", h, &out); err != nil {
		return nil, fmt.Errorf("heartbeat of %s: %w", h.ExecutorID, err)
	}
	return &out, nil
}

// UpdateTask reports a subtask's state change.
func (c *Client) UpdateTask(ctx context.Context, u TaskUpdate) error {
	if err := c.postJSON(ctx, "/v1/internal/task", u, nil); err != nil {
		return fmt.Errorf("report task %d.%d %s: %w", u.Pipeline, u.Index, u.State, err)
	}
	return nil
}

// NextSplit asks for a source subtask's next split.
func (c *Client) NextSplit(ctx context.Context, r SplitRequest) (*SplitResponse, error) {
	var out SplitResponse
	if err := c.postJSON(ctx, "/v1/internal/split", r, &out); err != nil {
		return nil, fmt.Errorf("next split for %s[%d]: %w", r.Vertex, r.Subtask, err)
	}
	return &out, nil
}

func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, "application/json", body, out)
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	return c.doHeader(ctx, method, path, contentType, nil, body, out)
}

// doHeader makes a call with extra headers, trying the nodes in turn; the
// request, headers included, is the same on every try.
func (c *Client) doHeader(ctx context.Context, method, path, contentType string, hdr http.Header, body []byte, out any) error {
	urls := c.URLs()
	if len(urls) == 0 {
		return errors.New("no coordinator URL")
	}
	deadline := time.Now().Add(c.Retry)
	for {
		c.mu.Lock()
		start := c.cur
		c.mu.Unlock()
		var err error
		for i := range urls {
			idx := (start + i) % len(urls)
			err = c.once(ctx, urls[idx], method, path, contentType, hdr, body, out)
			if err == nil || !retryable(ctx, err) {
				if err == nil || IsStatus(err, http.StatusNoContent) || i > 0 {
					c.mu.Lock()
					c.cur = idx
					c.mu.Unlock()
				}
				return err
			}
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond): // retry pacing while the group elects a leader
		}
	}
}

func (c *Client) once(ctx context.Context, base, method, path, contentType string, hdr http.Header, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode == http.StatusNoContent {
		return &StatusError{Status: resp.StatusCode, Message: "no content"}
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &StatusError{Status: resp.StatusCode, Message: e.Error, Details: e.Details}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// Commands long-polls an executor's commands after sequence number after
// of the command log named epoch ("" for any).
func (c *Client) Commands(ctx context.Context, executorID string, attempt int, epoch string, after int64) (*Commands, error) {
	q := url.Values{"executor": {executorID}, "attempt": {strconv.Itoa(attempt)}, "after": {strconv.FormatInt(after, 10)}, "epoch": {epoch}}
	var out Commands
	if err := c.do(ctx, http.MethodGet, "/v1/internal/commands?"+q.Encode(), "", nil, &out); err != nil {
		return nil, fmt.Errorf("poll commands of %s: %w", executorID, err)
	}
	return &out, nil
}

// Ack acknowledges a subtask's part of a checkpoint.
func (c *Client) Ack(ctx context.Context, a CheckpointAck) (*AckResponse, error) {
	var out AckResponse
	if err := c.postJSON(ctx, "/v1/internal/ack", a, &out); err != nil {
		return nil, fmt.Errorf("acknowledge checkpoint %d of %d.%d: %w", a.Checkpoint, a.Pipeline, a.Index, err)
	}
	return &out, nil
}

// Checkpoints returns a job's checkpoint history.
func (c *Client) Checkpoints(ctx context.Context, id string) (*Checkpoints, error) {
	var out Checkpoints
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/checkpoints", "", nil, &out); err != nil {
		return nil, fmt.Errorf("get checkpoints of %s: %w", id, err)
	}
	return &out, nil
}

// Savepoint takes a savepoint of a running job (and cancels it if asked),
// waiting until it is complete.
func (c *Client) Savepoint(ctx context.Context, id string, cancel bool) (*SavepointResponse, error) {
	var out SavepointResponse
	if err := c.postJSON(ctx, "/v1/jobs/"+url.PathEscape(id)+"/savepoints", SavepointRequest{Cancel: cancel}, &out); err != nil {
		return nil, fmt.Errorf("savepoint of %s: %w", id, err)
	}
	return &out, nil
}

// SubmitFromSavepoint submits a job that starts from a savepoint ("" for
// none), with a new idempotency key like Submit.
func (c *Client) SubmitFromSavepoint(ctx context.Context, spec []byte, contentType, savepoint string) (string, error) {
	key, err := NewIdempotencyKey()
	if err != nil {
		return "", fmt.Errorf("submit job: %w", err)
	}
	return c.SubmitWithKey(ctx, spec, contentType, savepoint, key)
}

// SubmitWithKey submits a job with the caller's idempotency key (see
// HeaderIdempotencyKey): every call with the same key and spec returns
// the same job id, and no second job is created. An empty key sends none.
func (c *Client) SubmitWithKey(ctx context.Context, spec []byte, contentType, savepoint, key string) (string, error) {
	var out SubmitResponse
	path := "/v1/jobs"
	if savepoint != "" {
		path += "?fromSavepoint=" + url.QueryEscape(savepoint)
	}
	var hdr http.Header
	if key != "" {
		hdr = http.Header{HeaderIdempotencyKey: {key}}
	}
	if err := c.doHeader(ctx, http.MethodPost, path, contentType, hdr, spec, &out); err != nil {
		return "", fmt.Errorf("submit job: %w", err)
	}
	return out.ID, nil
}

// NewIdempotencyKey returns a random idempotency key.
func NewIdempotencyKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make idempotency key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Cluster returns the group's members, leader and agents.
func (c *Client) Cluster(ctx context.Context) (*Cluster, error) {
	var out Cluster
	if err := c.do(ctx, http.MethodGet, "/v1/cluster", "", nil, &out); err != nil {
		return nil, fmt.Errorf("get cluster: %w", err)
	}
	return &out, nil
}

// Join adds a node to the group (or records its HTTP address).
func (c *Client) Join(ctx context.Context, r JoinRequest) error {
	if err := c.postJSON(ctx, "/v1/cluster/join", r, nil); err != nil {
		return fmt.Errorf("join %s: %w", r.ID, err)
	}
	return nil
}

// Remove removes a node from the group.
func (c *Client) Remove(ctx context.Context, id string) error {
	if err := c.postJSON(ctx, "/v1/cluster/remove", RemoveRequest{ID: id}, nil); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	return nil
}

// Ping applies a no-op through Raft: it succeeds once the group has a
// leader that can commit writes.
func (c *Client) Ping(ctx context.Context) (*PingResponse, error) {
	var out PingResponse
	if err := c.postJSON(ctx, "/v1/cluster/ping", struct{}{}, &out); err != nil {
		return nil, fmt.Errorf("ping: %w", err)
	}
	return &out, nil
}

// AgentHeartbeat registers an agent or keeps it alive.
func (c *Client) AgentHeartbeat(ctx context.Context, h AgentHeartbeat) error {
	if err := c.postJSON(ctx, "/v1/internal/agent/heartbeat", h, nil); err != nil {
		return fmt.Errorf("heartbeat of agent %s: %w", h.ID, err)
	}
	return nil
}

// AgentExit reports an executor's exit on an agent.
func (c *Client) AgentExit(ctx context.Context, e AgentExit) error {
	if err := c.postJSON(ctx, "/v1/internal/agent/exit", e, nil); err != nil {
		return fmt.Errorf("report exit of %s: %w", e.ExecutorID, err)
	}
	return nil
}

// AgentLaunch asks an agent (the client's BaseURL) to start an executor.
func (c *Client) AgentLaunch(ctx context.Context, r LaunchRequest) (*LaunchResponse, error) {
	var out LaunchResponse
	if err := c.postJSON(ctx, "/v1/agent/launch", r, &out); err != nil {
		return nil, fmt.Errorf("launch executor %s on agent %s: %w", r.ExecutorID, c.BaseURL, err)
	}
	return &out, nil
}

// AgentKill asks an agent (the client's BaseURL) to kill an executor.
func (c *Client) AgentKill(ctx context.Context, executorID string) error {
	if err := c.postJSON(ctx, "/v1/agent/kill", KillRequest{ExecutorID: executorID}, nil); err != nil {
		return fmt.Errorf("kill executor %s on agent %s: %w", executorID, c.BaseURL, err)
	}
	return nil
}
