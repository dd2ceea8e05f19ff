package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice/coordinator/api"
)

// chromiumBin is Debian's chromium; SLUICE_CHROMIUM names another.
func chromiumBin() string {
	if bin := os.Getenv("SLUICE_CHROMIUM"); bin != "" {
		return bin
	}
	return "/usr/bin/chromium"
}

// browser is a headless Chromium tab for t, with the page's JavaScript
// errors collected.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// newBrowser starts headless Chromium, or skips t when it is not
// installed. The flags keep it quiet on an offline machine.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	bin := chromiumBin()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("needs Debian's chromium at %s (apt-get install -y chromium, or set SLUICE_CHROMIUM): %v", bin, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser: no timeout on this one
		t.Fatalf("start %s: %v", bin, err)
	}
	b := &browser{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == "error" {
				b.mu.Lock()
				b.errs = append(b.errs, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs actions, each call bounded by a minute.
func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// click clicks the first element that matches a CSS selector.
func (b *browser) click(t *testing.T, selector string) {
	t.Helper()
	b.do(t, chromedp.Click(chromedp.CSS(selector)))
}

// count returns how many elements match a CSS selector.
func (b *browser) count(t *testing.T, selector string) int {
	t.Helper()
	return eval[int](t, b, fmt.Sprintf("document.querySelectorAll(%q).length", selector))
}

// text returns the text of the first element that matches a selector
// ("" if none does).
func (b *browser) text(t *testing.T, selector string) string {
	t.Helper()
	return eval[string](t, b, fmt.Sprintf("(document.querySelector(%q) || {}).textContent || ''", selector))
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitCount waits until at least n elements match selector.
func (b *browser) waitCount(t *testing.T, selector string, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d of %s on the page", n, selector), func() bool { return b.count(t, selector) >= n })
}

// screenshot saves the whole page as name.png in the test's artifact dir.
func (b *browser) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// checkErrors fails t if the page threw or logged an error, but for
// errors that contain one of expected.
func (b *browser) checkErrors(t *testing.T, expected ...string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
next:
	for _, e := range b.errs {
		for _, x := range expected {
			if strings.Contains(e, x) {
				continue next
			}
		}
		t.Errorf("JavaScript error on the page: %s", e)
	}
	b.errs = nil
}

// artifactDir is where screenshots go: $SLUICE_TEST_ARTIFACTS/<test> when
// set, else the test's artifact directory (kept with go test -artifacts).
func artifactDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("SLUICE_TEST_ARTIFACTS")
	if root == "" {
		return t.ArtifactDir()
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkHistoryUI opens the history server's UI, goes from the job list to
// each job, and checks that its graph, checkpoint chart and exceptions
// render.
func checkHistoryUI(t *testing.T, history string, jobs endedJobs) {
	t.Run("browser", func(t *testing.T) {
		b := newBrowser(t)
		dir := artifactDir(t)
		b.do(t, chromedp.Navigate(history+"/"))
		b.waitCount(t, "tr.job-row", 3)
		if b.count(t, "#signin") != 0 || !eval[bool](t, b, "document.getElementById('sign-out').hidden") {
			t.Error("the history server's UI asks for a token or offers to sign out")
		}
		b.screenshot(t, dir, "history-list")
		for _, state := range []api.JobState{api.JobFinished, api.JobCanceled, api.JobFailed} {
			id := jobs[state]
			row := fmt.Sprintf("tr.job-row[data-id=%q]", id)
			if got := b.text(t, row+" .state"); got != string(state) {
				t.Errorf("the list shows job %s as %q, want %s", id, got, state)
			}
			b.click(t, row+" a.job-link")
			b.waitCount(t, "#job-state", 1)
			if got := b.text(t, "#job-state"); got != string(state) {
				t.Errorf("job page of %s: state %q, want %s", id, got, state)
			}
			b.waitCount(t, "#graph svg.graph g.vertex", 3)
			if n := b.count(t, "#graph svg.graph g.edge"); n != 2 {
				t.Errorf("job %s: %d edges drawn, want 2", id, n)
			}
			if n := b.count(t, "#vertices tbody tr"); n != 3 {
				t.Errorf("job %s: %d vertex rows, want 3", id, n)
			}
			b.waitCount(t, "svg#checkpoint-chart rect.bar", 1)
			if b.count(t, "svg#checkpoint-chart path.duration-line") != 1 || b.count(t, "#checkpoint-table tbody tr") == 0 {
				t.Errorf("job %s: checkpoint chart without its duration line or table", id)
			}
			b.waitCount(t, "#exceptions", 1)
			if state == api.JobFailed {
				if got := b.text(t, "#exceptions .root-cause"); !strings.Contains(got, "boom") {
					t.Errorf("root cause shown: %q", got)
				}
				if n := b.count(t, "#exceptions li.exception"); n < 3 {
					t.Errorf("%d exceptions shown for the failed job, want the restart, the subtask and the job's", n)
				}
			} else if b.count(t, "#exceptions .root-cause") != 0 {
				t.Errorf("%s job shows a root cause", state)
			}
			b.screenshot(t, dir, "history-job-"+strings.ToLower(string(state)))
			b.click(t, "a.back")
			b.waitCount(t, "tr.job-row", 3)
		}
		b.checkErrors(t)
	})
}

// checkCoordinatorUI opens a coordinator's UI on a running job: the same
// pages with live figures.
func checkCoordinatorUI(t *testing.T, coordinator, id string) {
	t.Run("coordinator-ui", func(t *testing.T) {
		b := newBrowser(t)
		dir := artifactDir(t)
		b.do(t, chromedp.Navigate(coordinator+"/"))
		row := fmt.Sprintf("tr.job-row[data-id=%q]", id)
		b.waitCount(t, row, 1)
		if got := b.text(t, row+" .state"); got != string(api.JobRunning) {
			t.Errorf("the coordinator's list shows the job as %q", got)
		}
		b.click(t, row+" a.job-link")
		b.waitCount(t, "body.live #live", 1)
		b.waitCount(t, "#graph svg.graph g.vertex", 3)
		// rates and backpressure need two refreshes (2 s apart)
		waitFor(t, 30*time.Second, "live rates and backpressure", func() bool {
			return strings.HasSuffix(b.text(t, "#live-in-rate b"), "/s") && b.text(t, "#live-in-rate b") != "0/s" &&
				strings.HasSuffix(b.text(t, "#live-backpressure b"), "%")
		})
		if n := b.count(t, "#vertices td.rate"); n != 6 {
			t.Errorf("%d live rate cells, want in and out for 3 vertices", n)
		}
		if !strings.Contains(b.text(t, "#live-checkpoint span"), "checkpoint in progress") {
			t.Errorf("no checkpoint-in-progress figure: %q", b.text(t, "#live"))
		}
		b.waitCount(t, "svg#checkpoint-chart rect.bar", 1)
		b.screenshot(t, dir, "coordinator-running-job")
		b.checkErrors(t)
	})
}

// TestCoordinatorUITokenSignIn opens the web UI of a coordinator started
// with a token: the page loads without it and asks for it; a wrong token
// is refused with an error and the form again; the right one shows the job
// list and a job, kept in sessionStorage only; "sign out" forgets it; and
// #token=... in the address signs in and leaves the address bar.
func TestCoordinatorUITokenSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	b := newBrowser(t) // skips without chromium, before the cluster starts
	dir := artifactDir(t)
	const token = "ui-test-token/+&=" // characters that need escaping in #token=
	out := &syncBuffer{}
	cl, err := startCluster(context.Background(), clusterConfig{
		DataDir: t.TempDir(), Token: token, Registry: testRegistry(), Stdout: out, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	c := &testCluster{cluster: cl, client: api.NewClient(cl.URL, token), stdout: out}
	id := c.submit(t, map[string]any{
		"name": "signed-in",
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 100, "keys": 5}},
			{"id": "out", "operator": "print"},
		},
		"edges": []map[string]any{{"from": "gen", "to": "out"}},
	})
	row := fmt.Sprintf("tr.job-row[data-id=%q]", id)
	stored := func() string {
		return eval[string](t, b, "sessionStorage.getItem('sluice.token') || ''")
	}

	b.do(t, chromedp.Navigate(cl.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#signin-token")))
	if got := b.text(t, "#signin"); !strings.Contains(got, "This coordinator requires an access token") {
		t.Errorf("sign-in form: %q", got)
	}
	if eval[bool](t, b, "!document.getElementById('signin-error').hidden") || !eval[bool](t, b, "document.getElementById('sign-out').hidden") {
		t.Error("a fresh sign-in form shows an error or a sign-out link")
	}
	if eval[string](t, b, "document.getElementById('signin-token').type") != "password" {
		t.Error("the token input is not a password input")
	}
	b.screenshot(t, dir, "signin")

	b.do(t, chromedp.SendKeys(chromedp.CSS("#signin-token"), "wrong-token"), chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#signin-error")), chromedp.WaitVisible(chromedp.CSS("#signin-token")))
	if got := b.text(t, "#signin-error"); !strings.Contains(got, "refused") || !strings.Contains(got, "missing or wrong auth token") {
		t.Errorf("error for a wrong token: %q", got)
	}
	if got := stored(); got != "" {
		t.Errorf("a refused token stays in sessionStorage: %q", got)
	}
	if b.count(t, "tr.job-row") != 0 {
		t.Error("job rows shown after a wrong token")
	}
	b.screenshot(t, dir, "signin-wrong-token")

	b.do(t, chromedp.SendKeys(chromedp.CSS("#signin-token"), token), chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS(row)), chromedp.WaitVisible(chromedp.CSS("#sign-out")))
	if got := b.text(t, row+" a.job-link"); got != "signed-in" {
		t.Errorf("job row name %q", got)
	}
	if got := stored(); got != token {
		t.Errorf("sessionStorage keeps %q, want the token", got)
	}
	if n := eval[int](t, b, "localStorage.length"); n != 0 {
		t.Errorf("%d entries in localStorage", n)
	}
	if got := eval[string](t, b, "document.cookie"); got != "" {
		t.Errorf("cookies: %q", got)
	}
	b.screenshot(t, dir, "signed-in-jobs")

	b.click(t, row+" a.job-link")
	b.do(t, chromedp.WaitVisible(chromedp.CSS("#job-state")), chromedp.WaitVisible(chromedp.CSS("#graph svg.graph g.vertex")))
	b.screenshot(t, dir, "signed-in-job")

	b.do(t, chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#signin-token")), chromedp.WaitNotVisible(chromedp.CSS("#sign-out")))
	if got := stored(); got != "" {
		t.Errorf("sessionStorage keeps %q after sign out", got)
	}
	if eval[bool](t, b, "!document.getElementById('signin-error').hidden") {
		t.Errorf("error after sign out: %q", b.text(t, "#signin-error"))
	}

	b.do(t, chromedp.Navigate(cl.URL+"/#token="+url.QueryEscape(token)), chromedp.WaitVisible(chromedp.CSS(row)))
	if got := eval[string](t, b, "location.href"); strings.Contains(got, "token") {
		t.Errorf("the token stays in the address bar: %s", got)
	}
	if got := stored(); got != token {
		t.Errorf("after #token=, sessionStorage keeps %q", got)
	}
	b.screenshot(t, dir, "signed-in-from-url")
	b.checkErrors(t, "status of 401") // the refused calls, logged by the browser
}
