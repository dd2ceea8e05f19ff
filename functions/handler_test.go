package functions

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/coordinator/api"
)

func TestErrorsNameTheProblem(t *testing.T) {
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			http.Error(w, `{"error": "missing or wrong auth token"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jobs": []}`))
	}))
	defer coord.Close()
	for _, tc := range []struct {
		name, token, method, path, body string
		status                          int
		mention                         string
	}{
		{"list", "good", "GET", "/api/jobs", "", 200, `"jobs"`},
		{"wrong token", "bad", "GET", "/api/jobs", "", 502, "refused the handler's token"},
		{"spec missing", "good", "POST", "/api/jobs", `{"fromSavepoint": "x"}`, 400, `field \"spec\"`},
		{"oversized", "good", "POST", "/api/jobs", `{"spec": {"name": "` + strings.Repeat("x", 200) + `"}}`, 413, "exceeds 100 bytes"},
		{"unknown route", "good", "GET", "/api/nope", "", 404, "no such trigger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := New(Config{Client: api.NewClient(coord.URL, tc.token), MaxBody: 100})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.mention) {
				t.Fatalf("got %d %s, want %d mentioning %s", rec.Code, rec.Body, tc.status, tc.mention)
			}
		})
	}
}

func TestAddrFromPortVariable(t *testing.T) {
	t.Setenv(EnvPort, "34567")
	if a, err := Addr("127.0.0.1:7071"); err != nil || a != "127.0.0.1:34567" {
		t.Fatalf("Addr = %q, %v", a, err)
	}
	t.Setenv(EnvPort, "")
	if a, _ := Addr("127.0.0.1:7071"); a != "127.0.0.1:7071" {
		t.Fatalf("fallback Addr = %q", a)
	}
}

// TestSubmitPassesTheCallersIdempotencyKey: a caller that retries the
// trigger with the same Idempotency-Key reaches the coordinator with that
// key (which answers the same job); a caller without one still gets a key,
// so the client's own retries are safe.
func TestSubmitPassesTheCallersIdempotencyKey(t *testing.T) {
	var keys []string
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys = append(keys, r.Header.Get(api.HeaderIdempotencyKey))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id": "j1"}`))
	}))
	defer coord.Close()
	h, err := New(Config{Client: api.NewClient(coord.URL, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"retry-me", ""} {
		req := httptest.NewRequest("POST", "/api/jobs", strings.NewReader(`{"spec": {"name": "x"}}`))
		if key != "" {
			req.Header.Set(api.HeaderIdempotencyKey, key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("submit: %d %s", rec.Code, rec.Body)
		}
	}
	if len(keys) != 2 || keys[0] != "retry-me" || keys[1] == "" || keys[1] == "retry-me" {
		t.Fatalf("keys the coordinator saw: %q, want the caller's, then a fresh one", keys)
	}
}
