package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/functions"
)

// functionsHost emulates the Azure Functions host for a custom handler with
// enableProxyingHttpRequest: it reads host.json and every function.json of
// functions/app, starts the handler (here `sluice functions` in-process)
// with FUNCTIONS_CUSTOMHANDLER_PORT set, waits for the port, and proxies a
// request to the handler only when it matches a trigger's route and method
// and carries a function key (authLevel function), at its original path
// /api/<route> with the headers the host adds.
type functionsHost struct {
	front    *httptest.Server
	key      string
	triggers []hostTrigger
}

type hostTrigger struct {
	name    string
	methods []string
	route   []string // segments; "{x}" matches one segment
}

func readTriggers(t *testing.T) []hostTrigger {
	t.Helper()
	app := filepath.Join("..", "functions", "app")
	var host struct {
		Version       string `json:"version"`
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string   `json:"defaultExecutablePath"`
				Arguments             []string `json:"arguments"`
			} `json:"description"`
			EnableProxyingHTTPRequest bool `json:"enableProxyingHttpRequest"`
		} `json:"customHandler"`
	}
	data, err := os.ReadFile(filepath.Join(app, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &host); err != nil {
		t.Fatalf("host.json: %v", err)
	}
	if host.Version != "2.0" || !host.CustomHandler.EnableProxyingHTTPRequest ||
		host.CustomHandler.Description.DefaultExecutablePath != "sluice" ||
		strings.Join(host.CustomHandler.Description.Arguments, " ") != "functions" {
		t.Fatalf("host.json does not start `sluice functions` with proxying: %+v", host)
	}
	files, err := filepath.Glob(filepath.Join(app, "*", "function.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no function.json under %s: %v", app, err)
	}
	var out []hostTrigger
	for _, f := range files {
		var fn struct {
			Bindings []struct {
				Type      string   `json:"type"`
				Direction string   `json:"direction"`
				Name      string   `json:"name"`
				AuthLevel string   `json:"authLevel"`
				Methods   []string `json:"methods"`
				Route     string   `json:"route"`
			} `json:"bindings"`
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &fn); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Proxying applies only to an HTTP trigger with just an HTTP output.
		if len(fn.Bindings) != 2 || fn.Bindings[0].Type != "httpTrigger" || fn.Bindings[1].Type != "http" || fn.Bindings[1].Direction != "out" {
			t.Fatalf("%s: want exactly an httpTrigger and an http output, got %+v", f, fn.Bindings)
		}
		in := fn.Bindings[0]
		if in.AuthLevel != "function" {
			t.Fatalf("%s: authLevel %q, want function", f, in.AuthLevel)
		}
		var methods []string
		for _, m := range in.Methods {
			methods = append(methods, strings.ToUpper(m))
		}
		out = append(out, hostTrigger{name: filepath.Base(filepath.Dir(f)), methods: methods, route: strings.Split(in.Route, "/")})
	}
	return out
}

func (tr hostTrigger) match(method, path string) bool {
	segs := strings.Split(strings.TrimPrefix(path, "/api/"), "/")
	if !strings.HasPrefix(path, "/api/") || len(segs) != len(tr.route) {
		return false
	}
	for i, s := range tr.route {
		if !(strings.HasPrefix(s, "{") && segs[i] != "") && s != segs[i] {
			return false
		}
	}
	for _, m := range tr.methods {
		if m == method {
			return true
		}
	}
	return false
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// startFunctionsHost starts the handler for the coordinator group at
// coordURL with token, and the emulated host in front of it.
func startFunctionsHost(t *testing.T, coordURL, token string) *functionsHost {
	t.Helper()
	triggers := readTriggers(t)
	port := freePort(t)
	t.Setenv(functions.EnvPort, port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	stderr := &syncBuffer{}
	go func() {
		done <- Main(ctx, []string{"functions", "--coordinators", coordURL, "--token", token, "--addr", "127.0.0.1:1"},
			Options{Registry: testRegistry(), Stdout: io.Discard, Stderr: stderr})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the handler did not stop")
		}
	})
	// The host waits up to 60 s for the handler's port.
	handler := "127.0.0.1:" + port
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.Dial("tcp", handler)
		if err == nil {
			c.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("handler exited with %d before listening on %s: %s", code, handler, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler not listening on %s after 60 s", handler)
		}
		time.Sleep(20 * time.Millisecond) // the host's port polling
	}
	h := &functionsHost{key: "test-function-key", triggers: triggers}
	target, _ := url.Parse("http://" + handler)
	proxy := httputil.NewSingleHostReverseProxy(target)
	h.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := r.URL.Query().Get("code")
		if code == "" {
			code = r.Header.Get("x-functions-key")
		}
		if code != h.key {
			w.WriteHeader(http.StatusUnauthorized) // the host answers 401 with no body
			return
		}
		for _, tr := range h.triggers {
			if tr.match(r.Method, r.URL.Path) {
				r.Header.Set("X-Forwarded-Host", "sluice-func.azurewebsites.net")
				r.Header.Set("X-Forwarded-Proto", "https")
				r.Header.Set("X-Original-URL", r.URL.RequestURI())
				r.Header.Set("X-Azure-Functions-InvocationId", fmt.Sprintf("inv-%s-%d", tr.name, time.Now().UnixNano()))
				proxy.ServeHTTP(w, r) // same path and query, body streamed
				return
			}
		}
		w.WriteHeader(http.StatusNotFound) // no trigger for this route
	}))
	t.Cleanup(h.front.Close)
	return h
}

// call sends a request to the trigger route (without /api/) and decodes
// a JSON answer into out when set.
func (h *functionsHost) call(t *testing.T, method, route string, body []byte, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.front.URL+"/api/"+route+"?code="+h.key, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, route, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, route, data, err)
		}
	}
	var e api.Error
	if resp.StatusCode/100 != 2 && json.Unmarshal(data, &e) == nil && e.Error != "" {
		return resp.StatusCode, strings.Join(append([]string{e.Error}, e.Details...), "; ")
	}
	return resp.StatusCode, string(data)
}

func (h *functionsHost) waitJob(t *testing.T, id string, timeout time.Duration, states ...api.JobState) *api.Job {
	t.Helper()
	var job api.Job
	waitFor(t, timeout, fmt.Sprintf("job %s to be %v through the trigger", id, states), func() bool {
		job = api.Job{}
		if code, body := h.call(t, http.MethodGet, "jobs/"+id, nil, &job); code != http.StatusOK {
			t.Fatalf("get job: %d %s", code, body)
		}
		for _, s := range states {
			if job.State == s {
				return true
			}
		}
		return false
	})
	return &job
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFunctionsHandlerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	input := t.TempDir()
	want := writeTrickyCorpus(t, input)
	c := startTestCluster(t)
	host := startFunctionsHost(t, c.URL, "")

	// Submit the word count through the trigger and poll it to FINISHED.
	var sub api.SubmitResponse
	code, body := host.call(t, http.MethodPost, "jobs", mustJSON(t, map[string]any{"spec": wordCountSpec(input, 2, false)}), &sub)
	if code != http.StatusCreated || sub.ID == "" {
		t.Fatalf("submit: %d %s", code, body)
	}
	job := host.waitJob(t, sub.ID, 2*time.Minute, api.JobFinished, api.JobFailed, api.JobCanceled)
	if job.State != api.JobFinished {
		t.Fatalf("word count %s: %s", job.State, job.Error)
	}
	got, _ := readCounts(t, filepath.Join(c.DataDir, "bucket", "out", sub.ID))
	if len(got) != len(want) {
		t.Fatalf("word count through the trigger: %d words, want %d", len(got), len(want))
	}

	// The finished job is in the history server's archive too.
	history := startHistoryCommand(t, c.Bucket)
	var archived api.Job
	waitFor(t, 30*time.Second, "the word count in the history API", func() bool {
		res, err := http.Get(history + archive.JobPath(sub.ID))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&archived) == nil
	})
	if archived.ID != sub.ID || archived.State != api.JobFinished {
		t.Fatalf("history API: job %s %s, want %s FINISHED", archived.ID, archived.State, sub.ID)
	}

	// A long job to cancel.
	var long api.SubmitResponse
	code, body = host.call(t, http.MethodPost, "jobs", mustJSON(t, map[string]any{"spec": map[string]any{
		"name":     "to-cancel",
		"vertices": []map[string]any{{"id": "gen", "operator": "datagen"}, {"id": "sink", "operator": "slow", "config": map[string]any{"delay": "1ms"}}},
		"edges":    []map[string]any{{"from": "gen", "to": "sink"}},
	}}), &long)
	if code != http.StatusCreated {
		t.Fatalf("submit long job: %d %s", code, body)
	}
	host.waitJob(t, long.ID, time.Minute, api.JobRunning)

	// List: both jobs, the word count FINISHED.
	var list api.JobList
	if code, body := host.call(t, http.MethodGet, "jobs", nil, &list); code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	states := map[string]api.JobState{}
	for _, j := range list.Jobs {
		states[j.ID] = j.State
	}
	if states[sub.ID] != api.JobFinished || states[long.ID] == "" {
		t.Fatalf("list through the trigger: %v", states)
	}

	var cres functions.CancelResult
	if code, body := host.call(t, http.MethodPost, "jobs/"+long.ID+"/cancel", nil, &cres); code != http.StatusAccepted || cres.ID != long.ID {
		t.Fatalf("cancel: %d %s", code, body)
	}
	host.waitJob(t, long.ID, time.Minute, api.JobCanceled)

	// Input errors answer 4xx naming the field.
	for _, tc := range []struct {
		name, method, route, body string
		status                    int
		mention                   string
	}{
		{"spec not an object", "POST", "jobs", `{"spec": "wordcount"}`, 400, `"spec"`},
		{"spec missing", "POST", "jobs", `{}`, 400, `"spec"`},
		{"savepoint wrong type", "POST", "jobs", `{"spec": {}, "fromSavepoint": 7}`, 400, `"fromSavepoint"`},
		{"unknown field", "POST", "jobs", `{"spec": {}, "parallelism": 2}`, 400, `"parallelism"`},
		{"not JSON", "POST", "jobs", `{"spec": `, 400, "body"},
		{"invalid spec", "POST", "jobs", `{"spec": {"vertices": []}}`, 400, "vert"},
		{"cancel flag wrong type", "POST", "jobs/" + long.ID + "/cancel", `{"savepoint": "yes"}`, 400, `"savepoint"`},
		{"unknown job", "GET", "jobs/no-such-job", "", 404, "no-such-job"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			if tc.body != "" {
				b = []byte(tc.body)
			}
			code, body := host.call(t, tc.method, tc.route, b, nil)
			if code != tc.status || !strings.Contains(body, tc.mention) {
				t.Fatalf("got %d %s, want %d mentioning %s", code, body, tc.status, tc.mention)
			}
		})
	}

	// Oversized body: 413 before the coordinator sees it.
	big := append([]byte(`{"spec": {"name": "`), bytes.Repeat([]byte("x"), functions.DefaultMaxBody+1)...)
	big = append(big, `"}}`...)
	if code, body := host.call(t, http.MethodPost, "jobs", big, nil); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %s", code, body)
	}

	// The host refuses calls without the function key.
	resp, err := http.Get(host.front.URL + "/api/jobs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no function key: %d", resp.StatusCode)
	}
}

func TestFunctionsHandlerWrongToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	logs := &syncBuffer{}
	c, err := startCluster(context.Background(), clusterConfig{
		DataDir:  t.TempDir(),
		Registry: testRegistry(),
		Stdout:   io.Discard,
		Token:    "the-right-token",
		Logger:   zerolog.New(logs),
	})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	host := startFunctionsHost(t, c.URL, "a-wrong-token")
	code, body := host.call(t, http.MethodGet, "jobs", nil, nil)
	if code != http.StatusBadGateway || !strings.Contains(body, "refused the handler's token") {
		t.Fatalf("wrong token: %d %s, want 502 saying the coordinator refused the token", code, body)
	}
	if !strings.Contains(logs.String(), "refused call without a valid token") {
		t.Fatalf("the coordinator did not log the refused call:\n%s", logs)
	}
}
