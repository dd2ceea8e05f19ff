package archive

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
)

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, body
}

func TestServer(t *testing.T) {
	b, err := blobstate.OpenBucket(context.Background(), "file://"+t.TempDir(), blobstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	jobs := writeJobs(t, b, 5, base)
	srv, err := NewServer(Config{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	t.Run("list", func(t *testing.T) {
		status, _, body := get(t, ts.URL+"/v1/jobs?limit=2&state=failed")
		var page Page
		if status != http.StatusOK || json.Unmarshal(body, &page) != nil {
			t.Fatalf("%d %s", status, body)
		}
		if len(page.Jobs) != 1 || page.Jobs[0].State != api.JobFailed || page.Next != "" {
			t.Errorf("failed jobs: %s", body)
		}
		status, _, body = get(t, ts.URL+"/v1/jobs?limit=2&from="+base.Add(2*time.Second).Format(time.RFC3339)+"&to="+
			itoa(base.Add(3*time.Second).UnixMilli()))
		if err := json.Unmarshal(body, &page); status != http.StatusOK || err != nil || ids(page.Jobs) != ids(jobs[1:3]) {
			t.Errorf("time filter: %d %s, want %s", status, body, ids(jobs[1:3]))
		}
	})
	t.Run("new archives show at once", func(t *testing.T) {
		a := testArchive(t, "00000000000000ff", "late", api.JobFinished, base.Add(time.Hour))
		if _, err := Write(context.Background(), b, a); err != nil {
			t.Fatal(err)
		}
		_, _, body := get(t, ts.URL+"/v1/jobs?limit=1")
		if !strings.Contains(string(body), "00000000000000ff") {
			t.Errorf("the newest job is not listed first: %s", body)
		}
	})
	t.Run("job paths serve the archived JSON", func(t *testing.T) {
		id := jobs[0].ID
		a, err := NewIndex(b).Read(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{JobPath(id), CheckpointsPath(id), ExceptionsPath(id)} {
			for range 2 { // the second read comes from the cache
				status, h, body := get(t, ts.URL+p)
				if status != http.StatusOK || string(body) != string(a.Paths[p]) || h.Get("Content-Type") != "application/json" {
					t.Errorf("GET %s: %d %s", p, status, body)
				}
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			path   string
			status int
			want   string
		}{
			{"/v1/jobs/0000000000000000", 404, "no archived job"},
			{"/v1/jobs/0000000000000000/exceptions", 404, "no archived job"},
			{"/v1/jobs/bad_id", 404, "no archived job"},
			{"/v1/jobs?state=RUNNING", 400, "state"},
			{"/v1/jobs?limit=x", 400, "limit"},
			{"/v1/jobs?from=yesterday", 400, "from"},
			{"/v1/jobs?next=zzz", 400, "continuation token"},
			{"/v1/nothing", 404, "no such endpoint"},
		} {
			status, _, body := get(t, ts.URL+tc.path)
			var e api.Error
			if status != tc.status || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, tc.want) {
				t.Errorf("GET %s: %d %s, want %d with %q", tc.path, status, body, tc.status, tc.want)
			}
		}
		res, err := http.Post(ts.URL+"/v1/jobs", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /v1/jobs: %d, want 404 or 405", res.StatusCode)
		}
	})
	t.Run("ui", func(t *testing.T) {
		for _, p := range []string{"/", "/ui/app.js", "/ui/graph.js", "/ui/chart.js", "/ui/style.css"} {
			status, _, body := get(t, ts.URL+p)
			if status != http.StatusOK || len(body) == 0 {
				t.Errorf("GET %s: %d", p, status)
			}
		}
		if _, _, body := get(t, ts.URL+"/"); !strings.Contains(string(body), `<main id="app">`) {
			t.Errorf("index.html: %s", body)
		}
		if status, _, _ := get(t, ts.URL+"/ui/nothing.js"); status != http.StatusNotFound {
			t.Errorf("missing asset: %d", status)
		}
	})
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
