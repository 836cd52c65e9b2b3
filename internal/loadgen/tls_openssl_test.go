package loadgen

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// needTool returns the path of a tool a test drives, or skips the test
// when it is missing, except under CI, where .ci/apt-packages installs it
// and a missing one is a failure.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (Debian package %s, in .ci/apt-packages)", name, pkg)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, pkg)
	}
	return path
}

// OpenSSL's s_server, as a TLS 1.3 peer that sends a KeyUpdate asking for
// the client's in return between two responses: crypto/tls answers it
// from inside a Read, which on the event loops writes through
// loopTLSConn while a response is being read, and the next request must
// then go out under the client's new key for the server to read it.
func TestTLSKeyUpdateFromOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl", "openssl")
	dir := t.TempDir()
	cert := testCert()
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	for _, e := range tlsEngines {
		t.Run(e.name, func(t *testing.T) {
			cmd := exec.Command(openssl, "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-tls1_3",
				"-cert", certFile, "-key", keyFile, "-ign_eof")
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = io.Discard
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stdin.Close()
				cmd.Process.Kill()
				cmd.Wait()
			}()
			out := bufio.NewReader(stdout)
			var addr string
			for addr == "" {
				line, err := out.ReadString('\n')
				if err != nil {
					t.Fatalf("s_server: %v", err)
				}
				if a, ok := strings.CutPrefix(strings.TrimSpace(line), "ACCEPT "); ok {
					addr = a
				}
			}
			// The server's side of the dance: each request read from
			// s_server's output is answered through its input, and before
			// the second answer comes the KeyUpdate ("K").
			served := make(chan error, 1)
			var all bytes.Buffer // read after served
			go func() {
				var seen bytes.Buffer
				buf := make([]byte, 4096)
				for answered := 0; answered < 3; {
					n, err := out.Read(buf)
					if err != nil {
						served <- err
						return
					}
					seen.Write(buf[:n])
					all.Write(buf[:n])
					for bytes.Contains(seen.Bytes(), []byte("\r\n\r\n")) {
						_, rest, _ := bytes.Cut(seen.Bytes(), []byte("\r\n\r\n"))
						seen = *bytes.NewBuffer(bytes.Clone(rest))
						if answered == 1 {
							io.WriteString(stdin, "K\n")
							time.Sleep(200 * time.Millisecond) // one command per read of s_server's input
						}
						io.WriteString(stdin, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
						answered++
					}
				}
				served <- nil
			}()
			p := &Plan{URL: mustURL(t, "https://"+addr+"/"), RootCAs: testRoots(), Connections: 1, Requests: 3, Timeout: 20 * time.Second}
			e.set(p)
			s, err := Run(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			if s.Status[200] != 3 || s.ConnectionsOpened() != 1 || !strings.Contains(s.Generator.Engine, e.engine) {
				t.Errorf("statuses %v, errors %v %q %q, %d connections, engine %q; want 3 × 200 on one connection",
					s.Status, s.ErrorKinds, s.ErrorSamples(report.ErrTLS), s.ErrorSamples(report.ErrReset), s.ConnectionsOpened(), s.Generator.Engine)
			}
			if err := <-served; err != nil {
				t.Errorf("s_server: %v", err)
			}
			// s_server says so once it has sent the KeyUpdate.
			if !bytes.Contains(all.Bytes(), []byte("SSL_do_handshake -> 1")) {
				t.Errorf("s_server sent no KeyUpdate; it said:\n%s", all.Bytes())
			}
		})
	}
}
