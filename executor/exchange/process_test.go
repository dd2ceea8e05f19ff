package exchange

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Peer-death tests run the other end of the channel in a child process
// (this test binary re-executed) and SIGKILL it.

const (
	helperModeEnv = "SLUICE_EXCHANGE_HELPER"
	helperAddrEnv = "SLUICE_EXCHANGE_HELPER_ADDR"
)

var helperCfg = Config{BufferSize: 1024, Credits: 2, QueueLen: 1}

// TestHelperProcess is the child side; it is skipped in normal runs.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperModeEnv)
	if mode == "" {
		t.Skip("child process for peer-death tests")
	}
	ctx := context.Background()
	e, err := New(helperCfg)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	id := chanID(0, 0, 0)
	switch mode {
	case "consumer": // receives, never releases
		g, err := e.NewGate([]ChannelID{id})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(e.Addr())
		for {
			if _, err := g.Next(ctx); err != nil {
				os.Exit(1)
			}
		}
	case "producer": // sends three buffers, then idles
		o, err := e.Connect(ctx, id, os.Getenv(helperAddrEnv))
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for i := range 3 {
			if err := o.Send(ctx, payload(e, 0, i, 100)); err != nil {
				os.Exit(1)
			}
		}
		fmt.Println("sent")
	}
	time.Sleep(time.Minute) // until killed; bounded in case the parent dies
	os.Exit(0)
}

func startHelper(t *testing.T, mode, addr string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperModeEnv+"="+mode, helperAddrEnv+"="+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(out)
}

func TestPeerProcessDeath(t *testing.T) {
	checkLeaks(t)
	id := chanID(0, 0, 0)

	t.Run("consumer killed", func(t *testing.T) {
		ctx := testCtx(t)
		cmd, out := startHelper(t, "consumer", "")
		if !out.Scan() {
			t.Fatalf("child printed nothing: %v", out.Err())
		}
		prod := newExchange(t, helperCfg)
		o, err := prod.Connect(ctx, id, out.Text())
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		sendErr := make(chan error, 1)
		go func() {
			for i := 0; ; i++ {
				if err := o.Send(ctx, payload(prod, 0, i, 100)); err != nil {
					sendErr <- err
					return
				}
			}
		}()
		waitFor(t, "child to hold all credits", func() bool { return prod.Metrics().BuffersSent == 2 })
		cmd.Process.Kill()
		err = <-sendErr
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want connection error", err)
		}
		t.Logf("send error: %v", err)
	})

	t.Run("producer killed", func(t *testing.T) {
		ctx := testCtx(t)
		cons := newExchange(t, helperCfg)
		g, err := cons.NewGate([]ChannelID{id})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		cmd, _ := startHelper(t, "producer", cons.Addr())
		for i := range 3 {
			it, err := g.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			checkPayload(t, it.Data, 0, i, 100)
			g.Release(it)
		}
		cmd.Process.Kill()
		_, err = g.Next(ctx)
		if err == nil || err == io.EOF || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want connection error", err)
		}
		t.Logf("next error: %v", err)
	})
}
