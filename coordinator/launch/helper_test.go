package launch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// helperEnv, set to 1, makes the test binary act as an executor (or as a
// launcher) instead of running tests.
const helperEnv = "SLUICE_LAUNCH_TEST_HELPER"

// helperMain runs the test binary as a helper process:
//
//	executor exit CODE [STDERR]  write STDERR (if any) to stderr, exit CODE
//	executor echo ARGS...        print ARGS and $HELPER_GREETING, exit 0
//	executor sleep               print "ready", block
//	executor term-exit           print "ready", exit 0 on SIGTERM
//	executor ignore-term         print "ready", print "term" on SIGTERM, block
//	executor spawn               start "executor sleep" in our process
//	                             group, print its pid, exit 0
//	executor spew N              write N lines to stderr, exit 1
//	launcher                     launch "executor sleep" with a Process,
//	                             print its pid, block
func helperMain(args []string) int {
	if len(args) > 0 && args[0] == "launcher" {
		return helperLauncher()
	}
	if len(args) < 2 || args[0] != "executor" {
		fmt.Fprintf(os.Stderr, "helper: bad args %q\n", args)
		return 2
	}
	mode, rest := args[1], args[2:]
	switch mode {
	case "exit":
		code, _ := strconv.Atoi(rest[0])
		if len(rest) > 1 {
			fmt.Fprintln(os.Stderr, rest[1])
		}
		return code
	case "echo":
		fmt.Println(strings.Join(rest, " "))
		fmt.Println(os.Getenv("HELPER_GREETING"))
		fmt.Fprintln(os.Stderr, "to the log")
		return 0
	case "sleep":
		fmt.Println("ready")
		select {}
	case "term-exit":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		fmt.Println("ready")
		<-ch
		fmt.Fprintln(os.Stderr, "stopping")
		return 0
	case "ignore-term":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		fmt.Println("ready")
		for range ch {
			fmt.Println("term")
		}
	case "spawn":
		cmd := exec.Command(os.Args[0], "executor", "sleep")
		cmd.Stdout = os.Stdout // holds our stdout pipe open
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("child %d\n", cmd.Process.Pid)
		return 0
	case "spew":
		n, _ := strconv.Atoi(rest[0])
		for i := range n {
			fmt.Fprintf(os.Stderr, "log line %d\n", i)
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "helper: unknown mode %q\n", mode)
	return 2
}

func helperLauncher() int {
	lines := make(lineWriter, 10)
	p := NewProcess(ProcessConfig{Binary: os.Args[0], Stdout: lines}, nil)
	pid, err := p.Launch(context.Background(), Request{ExecutorID: "orphan", Args: []string{"sleep"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// once the executor is ready it writes nothing more, so it cannot die
	// of SIGPIPE when the launcher is gone: only the parent-death signal
	// can kill it
	<-lines
	fmt.Printf("executor %d\n", pid)
	select {}
}
