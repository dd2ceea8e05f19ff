package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/bench/corpus"
)

// buildSluice builds the real sluice binary, as a user would get it.
func buildSluice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// TestREADMEWordCount runs the README's first command as a new user would
// (sluice run examples/wordcount.json, from the repository root) and checks
// the complete output against a plain reference count of the corpus.
func TestREADMEWordCount(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	bin := buildSluice(t)
	root := repoRoot(t)
	data := t.TempDir()
	cmd := exec.Command(bin, "run", "--data-dir", data, "examples/wordcount.json")
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sluice run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"submitted", "FINISHED", "words", "records out"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("progress/summary lacks %q:\n%s", want, stderr.String())
		}
	}
	m := regexp.MustCompile(`output of out: (\S+) \((\d+) files\)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no output location in stdout:\n%s", stdout.String())
	}
	if m[2] != "2" {
		t.Errorf("%s part files, want 2 (parallelism 2)", m[2])
	}
	got, _ := readCounts(t, m[1])

	want := map[string]int64{}
	files, _ := filepath.Glob(filepath.Join(root, "examples", "corpus", "*.txt"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := corpus.Count(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for w, n := range c {
			want[w] += n
		}
	}
	diffCounts(t, got, want)
}

// TestRunFailsWithNonZeroExit checks that a failing job makes `sluice run`
// exit non-zero with the reason, and that a bad spec is refused up front.
func TestRunFailsWithNonZeroExit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	bin := buildSluice(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(spec, []byte(`
vertices:
  - {id: in, operator: files, config: {bucket: empty-dir, prefix: ""}}
  - {id: out, operator: print}
edges:
  - {from: in, to: out}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--data-dir", filepath.Join(dir, "data"), spec)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("sluice run succeeded on a spec without input:\n%s", out)
	}
	if !strings.Contains(string(out), "vertices[0].config.prefix") {
		t.Errorf("error does not name the field:\n%s", out)
	}
}

// TestPsShowsOneSluiceExecutorPerSlot runs `sluice local`, submits a job at
// parallelism 4 with `sluice submit`, and checks what ps would show: four
// separate `sluice executor` processes of the real binary, and none once
// `sluice cancel` has cancelled the job.
func TestPsShowsOneSluiceExecutorPerSlot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	bin := buildSluice(t)
	dir := t.TempDir()
	local := exec.Command(bin, "local", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"))
	out, err := local.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := local.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = local.Process.Signal(os.Interrupt)
		_ = local.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("sluice local printed nothing: %v", err)
	}
	m := regexp.MustCompile(`API on (http://[0-9.:]+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no API address in %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	url := m[1]

	spec := filepath.Join(dir, "endless.yaml")
	if err := os.WriteFile(spec, []byte(`
name: endless
defaults: {parallelism: 4}
vertices:
  - {id: gen, operator: datagen, config: {rate: 1000}}
  - {id: keep, operator: filter, config: {expr: "value < 0"}}
  - {id: out, operator: print}
edges:
  - {from: gen, to: keep, partitioning: rebalance}
  - {from: keep, to: out}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	sub, err := exec.Command(bin, "submit", "--coordinator", url, spec).Output()
	if err != nil {
		t.Fatalf("sluice submit: %v", err)
	}
	id := strings.TrimSpace(string(sub))
	sluiceExecutors := func() int {
		n := 0
		for _, pid := range executorProcesses(t, id) {
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if err == nil && exe == bin {
				n++
			}
		}
		return n
	}
	waitFor(t, time.Minute, "4 sluice executor processes", func() bool { return sluiceExecutors() == 4 })
	if out, err := exec.Command(bin, "cancel", "--coordinator", url, id).CombinedOutput(); err != nil {
		t.Fatalf("sluice cancel: %v\n%s", err, out)
	}
	waitFor(t, time.Minute, "no executor processes", func() bool { return len(executorProcesses(t, id)) == 0 })
	st, err := exec.Command(bin, "jobs", "--coordinator", url).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(st), id) || !strings.Contains(string(st), "CANCELED") {
		t.Fatalf("sluice jobs does not show the job as CANCELED:\n%s", st)
	}
}
