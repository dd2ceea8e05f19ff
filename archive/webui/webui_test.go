package webui

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStatic checks which requests count as the UI's own files, which a
// server with a token serves without it, and that Handler serves each of
// them.
func TestStatic(t *testing.T) {
	for _, c := range []struct {
		method, target string
		static         bool
	}{
		{"GET", "/", true},
		{"GET", "/index.html", true},
		{"GET", "/ui/app.js", true},
		{"GET", "/ui/style.css", true},
		{"GET", "/ui/util.js?v=2", true},
		{"GET", "/ui/", true},
		{"HEAD", "/", false},
		{"POST", "/", false},
		{"POST", "/ui/app.js", false},
		{"PUT", "/index.html", false},
		{"OPTIONS", "/", false},
		{"GET", "/v1/jobs", false},
		{"GET", "/v1", false},
		{"GET", "/v1/../v1/jobs", false},
		{"GET", "//v1/jobs", false},
		{"GET", "/static/../v1/jobs", false},
		{"GET", "/ui/../v1/jobs", false},
		{"GET", "/ui/./app.js", false},
		{"GET", "/ui//app.js", false},
		{"GET", "/ui/%2e%2e/v1/jobs", false},
		{"GET", "/ui/..%2fv1%2fjobs", false},
		{"GET", "/index.html/../v1/jobs", false},
		{"GET", "/ui", false},
		{"GET", "/favicon.ico", false},
		{"GET", "http://example.com/v1/jobs", false},
	} {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(c.method + " " + c.target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.target, err)
		}
		if got := Static(r); got != c.static {
			t.Errorf("Static(%s %s) = %v, want %v", c.method, c.target, got, c.static)
		}
		if c.static {
			w := httptest.NewRecorder()
			Handler().ServeHTTP(w, r)
			if w.Code != http.StatusOK && !(c.target == "/index.html" && w.Code == http.StatusMovedPermanently) {
				t.Errorf("%s %s: %d %s", c.method, c.target, w.Code, w.Body)
			}
		}
	}
}
