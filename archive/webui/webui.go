// Package webui is Sluice's web UI: plain HTML, CSS and JavaScript embedded
// in the binary (no build step), served at / by the history server and by
// every coordinator. It reads the API of whatever serves it (GET /v1/jobs,
// /v1/jobs/{id}, /checkpoints, /exceptions), so the same pages show running
// jobs with live figures on a coordinator and archived jobs on a history
// server.
package webui

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Handler serves the UI: index.html at /, the scripts and styles under
// /ui/. GET requests for unknown /v1/ paths get the API's JSON 404.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/" || r.URL.Path == "/index.html":
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, "index.html")
		case strings.HasPrefix(r.URL.Path, "/ui/"):
			w.Header().Set("Cache-Control", "no-cache")
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/ui")
			files.ServeHTTP(w, r2)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "no such endpoint: " + r.Method + " " + r.URL.Path})
		}
	})
}
