package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/blobstate"
)

// result is one case's latencies.
type result struct {
	backend, name string
	n             int // requests
	p50, p99, max time.Duration
}

// bench generates the archives in b, serves them, and measures each case.
func bench(ctx context.Context, backend string, b *blobstate.Bucket, jobs, requests, writers int) ([]result, error) {
	end := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	took, err := generate(ctx, b, jobs, writers, end)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "%s: archived %d jobs in %s (%.0f jobs/s)\n", backend, jobs, took.Round(time.Millisecond), float64(jobs)/took.Seconds())
	// the leader's sweep, as when a coordinator starts leading: it finds
	// every archive indexed and marks the day views complete, so that time
	// windows list them
	start := time.Now()
	idx := archive.NewIndex(b)
	archived, err := idx.Archived(ctx)
	if err != nil {
		return nil, err
	}
	if repaired, err := idx.Repair(ctx, archived); err != nil || len(repaired) != 0 {
		return nil, fmt.Errorf("sweep: repaired %d jobs: %v", len(repaired), err)
	}
	fmt.Fprintf(os.Stderr, "%s: sweep of %d archives in %s\n", backend, len(archived), time.Since(start).Round(time.Millisecond))

	srv, err := archive.NewServer(archive.Config{Bucket: b})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: time.Minute}

	get := func(path string) (*archive.Page, time.Duration, error) {
		start := time.Now()
		res, err := client.Get(base + path)
		if err != nil {
			return nil, 0, err
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		took := time.Since(start)
		if err != nil || res.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("GET %s: %d %s %v", path, res.StatusCode, body, err)
		}
		var page archive.Page
		_ = json.Unmarshal(body, &page) // job pages are not pages
		return &page, took, nil
	}

	rng := rand.New(rand.NewPCG(1, 2))
	// pages follows the continuation tokens of a listing, restarting at the
	// first page once it ends, and measures every page but the first
	pages := func(query string) func() (time.Duration, error) {
		next := ""
		return func() (time.Duration, error) {
			if next == "" {
				p, _, err := get("/v1/jobs?" + query)
				if err != nil {
					return 0, err
				}
				next = p.Next
			}
			p, took, err := get("/v1/jobs?" + query + "&next=" + url.QueryEscape(next))
			if err != nil {
				return 0, err
			}
			next = p.Next
			return took, nil
		}
	}
	window := func() (time.Duration, error) {
		day := end.Add(-time.Duration(rng.IntN(30)) * 24 * time.Hour)
		q := url.Values{"limit": {"50"}, "from": {day.Add(-24 * time.Hour).Format(time.RFC3339)}, "to": {day.Format(time.RFC3339)}}
		_, took, err := get("/v1/jobs?" + q.Encode())
		return took, err
	}
	first, _, err := get("/v1/jobs?limit=1000")
	if err != nil {
		return nil, err
	}
	jobPage := func() (time.Duration, error) {
		_, took, err := get("/v1/jobs/" + first.Jobs[rng.IntN(len(first.Jobs))].ID)
		return took, err
	}
	simple := func(path string) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			_, took, err := get(path)
			return took, err
		}
	}
	// the cases that look at every name get fewer requests: on Azurite
	// each takes seconds
	scans := max(20, requests/5)
	cases := []struct {
		name string
		n    int
		do   func() (time.Duration, error)
	}{
		{"first page (`?limit=50`)", requests, simple("/v1/jobs?limit=50")},
		{"next pages, following `next` to the end", requests, pages("limit=50")},
		{"`?state=FAILED`, first and next pages", requests, pages("limit=50&state=FAILED")},
		{"`?name=orders` (1 job in 8), pages", requests, pages("limit=50&name=orders")},
		{fmt.Sprintf("`?name=nothing-matches` (looks at all %d names)", jobs), scans, simple("/v1/jobs?limit=50&name=nothing-matches")},
		{"`?from=&to=` one day, a random day of 30 (day views)", scans, window},
		{"job page `/v1/jobs/{id}` (the 1,000 newest, cache cold then warm)", requests, jobPage},
	}
	var out []result
	for _, c := range cases {
		lat := make([]time.Duration, 0, c.n)
		for range c.n {
			d, err := c.do()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			lat = append(lat, d)
		}
		slices.Sort(lat)
		r := result{backend: backend, name: c.name, n: c.n, p50: lat[len(lat)/2], p99: lat[(len(lat)*99)/100], max: lat[len(lat)-1]}
		fmt.Fprintf(os.Stderr, "%s: %s: p50 %s p99 %s max %s\n", backend, c.name, ms(r.p50), ms(r.p99), ms(r.max))
		out = append(out, r)
	}
	return out, nil
}
