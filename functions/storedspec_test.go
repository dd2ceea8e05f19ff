package functions

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/sluicehq/sluice/coordinator/api"
)

// TestSubmitStoredSpecWithParameters submits a spec stored in the bucket,
// its placeholders filled from the request, and checks every way the
// request can be wrong.
func TestSubmitStoredSpecWithParameters(t *testing.T) {
	var mu sync.Mutex
	var posted []string
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted = append(posted, r.Header.Get("Content-Type")+" "+string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id": "j1"}`))
	}))
	defer coord.Close()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	ctx := context.Background()
	_ = b.WriteAll(ctx, "specs/count.json", []byte(`{"name": "count ${day}", "vertices": [{"id": "in", "operator": "files", "config": {"prefix": "input/${day}/"}}]}`), nil)
	_ = b.WriteAll(ctx, "specs/count.yaml", []byte("name: count ${day}\n"), nil)
	h, err := New(Config{Client: api.NewClient(coord.URL, ""), Specs: b})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body string
		status     int
		mention    string
	}{
		{"filled", `{"specPath": "specs/count.json", "parameters": {"day": "2026-11-27\""}}`, 201, `"j1"`},
		{"yaml", `{"specPath": "specs/count.yaml", "parameters": {"day": "x"}}`, 201, `"j1"`},
		{"missing parameter", `{"specPath": "specs/count.json"}`, 400, `field \"parameters\": specs/count.json needs day`},
		{"unused parameter", `{"specPath": "specs/count.json", "parameters": {"day": "d", "dya": "d"}}`, 400, `no placeholder for dya`},
		{"no such spec", `{"specPath": "specs/nope.json"}`, 400, `field \"specPath\": no object`},
		{"escape attempt", `{"specPath": "../etc/passwd"}`, 400, `field \"specPath\"`},
		{"both", `{"spec": {"name": "x"}, "specPath": "specs/count.json"}`, 400, `not both`},
		{"parameters without a stored spec", `{"spec": {"name": "x"}, "parameters": {"a": "b"}}`, 400, `only used with`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/jobs", strings.NewReader(tc.body)))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.mention) {
				t.Fatalf("got %d %s, want %d mentioning %s", rec.Code, rec.Body, tc.status, tc.mention)
			}
		})
	}
	if len(posted) != 2 {
		t.Fatalf("%d specs reached the coordinator, want 2", len(posted))
	}
	if want := `application/json {"name": "count 2026-11-27\"", "vertices": [{"id": "in", "operator": "files", "config": {"prefix": "input/2026-11-27\"/"}}]}`; posted[0] != want {
		t.Errorf("posted %s\nwant   %s", posted[0], want)
	}
	if !strings.HasPrefix(posted[1], "application/yaml name: count x") {
		t.Errorf("yaml spec posted as %q", posted[1])
	}
}
