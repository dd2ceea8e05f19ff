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
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// Static reports whether r is a GET of one of the UI's own files: / and
// /index.html (the page) or a clean path under /ui/ (its scripts and
// styles). These carry no secrets, so a server that requires a token may
// serve them, with Handler, without one: the page then asks for the token
// and sends it on its API calls. Anything else is not static: other
// methods (HEAD and POST too), /v1/ paths, and paths with "..", "." or
// "//" segments, which could clean to an API path.
func Static(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	p := r.URL.Path
	switch {
	case p == "/" || p == "/index.html":
		return true
	case strings.HasPrefix(p, "/ui/"):
		return path.Clean(p) == strings.TrimSuffix(p, "/")
	}
	return false
}

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
