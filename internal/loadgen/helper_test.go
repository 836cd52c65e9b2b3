package loadgen

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helperEnv makes the test binary a TLS server for the test that started
// it, so that what a test measures of the process (allocations, CPU) is
// the client's alone: an in-process TLS server allocates and encrypts too.
const helperEnv = "GATHER_TEST_TLS_SERVER"

// serveHelper serves, if the environment asks for it, and reports whether
// it did: it listens on a free loopback port, prints it, answers every
// request on every connection with helloResponse over TLS, and returns
// when its standard input closes.
func serveHelper() bool {
	if os.Getenv(helperEnv) == "" {
		return false
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS(0))
	if err != nil {
		fmt.Println("error:", err)
		return true
	}
	fmt.Println(ln.Addr())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go quiet(helloResponse)(c)
		}
	}()
	io.Copy(io.Discard, os.Stdin)
	return true
}

// helperServer starts the test binary as a TLS server and returns its
// https:// URL; the server ends with the test.
func helperServer(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr := strings.TrimSpace(line)
	if _, _, serr := net.SplitHostPort(addr); err != nil || serr != nil {
		t.Fatalf("helper server: %q, %v", line, err)
	}
	return "https://" + addr + "/"
}
