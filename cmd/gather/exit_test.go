package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestSignalExitStatus sends the test process real signals while run
// executes a command under gather.Run: every command exits 130 after
// SIGINT and 143 after SIGTERM, after reporting what it did.
//
// It must not run in parallel with other tests that call gather.Run,
// which would see the signals too; being a sequential top-level test, it
// runs while no parallel test does.
func TestSignalExitStatus(t *testing.T) {
	// A server that holds every request until the test ends, so a bench
	// is in flight when the signal comes.
	var once sync.Once
	started := make(chan struct{})
	hold := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(started) })
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hold)

	tests := []struct {
		name   string
		args   []string
		sig    syscall.Signal
		ready  func(stderr *bufio.Reader) // returns once the command is running
		status int
	}{
		{"serve SIGINT", []string{"serve", "--addr", "127.0.0.1:0", "--grace", "0s"}, syscall.SIGINT, listening, 130},
		{"serve SIGTERM", []string{"serve", "--addr", "127.0.0.1:0", "--grace", "0s"}, syscall.SIGTERM, listening, 143},
		{"bench SIGTERM", []string{"bench", "-n", "100", "-c", "1", "-t", "1m", srv.URL + "/"}, syscall.SIGTERM,
			func(*bufio.Reader) { <-started }, 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			var stdout bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run(tt.args, strings.NewReader(""), &stdout, pw)
				pw.Close()
			}()
			stderr := bufio.NewReader(pr)
			tt.ready(stderr)
			if err := syscall.Kill(syscall.Getpid(), tt.sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(stderr)
			if got := <-done; got != tt.status {
				t.Errorf("exit status %d, want %d; stderr: %s", got, tt.status, rest)
			}
		})
	}
}

// listening reads serve's first line, which it prints once it listens.
func listening(stderr *bufio.Reader) {
	stderr.ReadString('\n')
}
