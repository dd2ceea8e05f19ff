package coordinator

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// rawRequest sends method and target exactly as given (no cleaning by a
// client) and returns the status and body.
func rawRequest(t *testing.T, srv *httptest.Server, method, target, auth string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, srv.Listener.Addr())
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	if method == http.MethodPost || method == http.MethodPut {
		req += "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	} else {
		req += "\r\n"
	}
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestTokenLeavesTheWebUIOpen checks that a coordinator with a token
// serves the web UI's page, scripts and styles without it, and nothing
// else: every API path, however spelled, and every other method answers
// 401 without the token.
func TestTokenLeavesTheWebUIOpen(t *testing.T) {
	const token = "s3cret-token"
	n := startSingleNode(t, func(c *Config) { c.Token = token })
	get := func(path, auth string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, n.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req) // follows /index.html's redirect to /
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}

	status, page := get("/", "")
	if status != http.StatusOK || !strings.Contains(page, "<title>Sluice</title>") {
		t.Fatalf("GET / without a token: %d %.200s", status, page)
	}
	if status, body := get("/index.html", ""); status != http.StatusOK || body != page {
		t.Errorf("GET /index.html without a token: %d %.200s", status, body)
	}
	assets := regexp.MustCompile(`(?:src|href)="(ui/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(assets) < 7 {
		t.Fatalf("the page loads %d scripts and styles: %q", len(assets), assets)
	}
	for _, a := range assets {
		status, body := get("/"+a[1], "")
		if status != http.StatusOK || len(body) == 0 || strings.Contains(body, "auth token") {
			t.Errorf("GET /%s without a token: %d %.200s", a[1], status, body)
		}
	}

	if status, body := get("/v1/jobs", ""); status != http.StatusUnauthorized || !strings.Contains(body, "missing or wrong auth token") {
		t.Errorf("GET /v1/jobs without a token: %d %s", status, body)
	}
	if status, body := get("/v1/jobs", "Bearer wrong"); status != http.StatusUnauthorized {
		t.Errorf("GET /v1/jobs with a wrong token: %d %s", status, body)
	}
	status, body := get("/v1/jobs", "Bearer "+token)
	var list api.JobList
	if status != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
		t.Errorf("GET /v1/jobs with the token: %d %s", status, body)
	}

	// None of these may reach the API (nor anything but the UI's files)
	// without the token.
	for _, r := range []struct{ method, target string }{
		{"GET", "/v1/jobs"},
		{"GET", "/v1/../v1/jobs"},
		{"GET", "//v1/jobs"},
		{"GET", "/./v1/jobs"},
		{"GET", "/static/../v1/jobs"},
		{"GET", "/ui/../v1/jobs"},
		{"GET", "/ui/../../v1/jobs"},
		{"GET", "/ui/./../v1/cluster"},
		{"GET", "/ui//v1/jobs"},
		{"GET", "/ui/%2e%2e/v1/jobs"},
		{"GET", "/ui/..%2fv1%2fjobs"},
		{"GET", "/ui/%2E%2E%2Fv1%2Fjobs"},
		{"GET", "/index.html/../v1/jobs"},
		{"GET", "/v1/jobs/../../ui/app.js"},
		{"GET", "/v1"},
		{"GET", "/v1/"},
		{"GET", "/V1/jobs"},
		{"GET", "/v1/cluster"},
		{"GET", "/v1/internal/deployment"},
		{"GET", "/v1/jobs?x=/ui/app.js"},
		{"GET", "http://example.com/v1/jobs"},
		{"GET", "/favicon.ico"},
		{"HEAD", "/"},
		{"HEAD", "/v1/jobs"},
		{"POST", "/"},
		{"POST", "/index.html"},
		{"POST", "/ui/app.js"},
		{"POST", "/v1/jobs"},
		{"POST", "/ui/../v1/jobs"},
		{"PUT", "/"},
		{"DELETE", "/"},
		{"OPTIONS", "/"},
	} {
		status, body := rawRequest(t, n.srv, r.method, r.target, "")
		if status != http.StatusUnauthorized || (r.method != "HEAD" && !strings.Contains(body, "missing or wrong auth token")) {
			t.Errorf("%s %s without a token: %d %.200s, want 401", r.method, r.target, status, body)
		}
		if status, body := rawRequest(t, n.srv, r.method, r.target, "Bearer wrong"); status != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token: %d %.200s, want 401", r.method, r.target, status, body)
		}
	}
	if status, body := rawRequest(t, n.srv, "GET", "/v1/jobs", "Bearer "+token); status != http.StatusOK || !strings.Contains(body, `"jobs"`) {
		t.Errorf("raw GET /v1/jobs with the token: %d %s", status, body)
	}
	if got := len(n.c.cfg.Store.Jobs()); got != 0 {
		t.Errorf("%d jobs after the refused POSTs", got)
	}
}
