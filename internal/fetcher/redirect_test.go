package fetcher

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawServer accepts connections on loopback, reads each request's head and
// ends the connection without a response: with a reset if reset, else
// with a plain close. It stops at the end of the test.
func rawServer(t *testing.T, reset bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil || line == "\r\n" {
					break
				}
			}
			if reset {
				c.(*net.TCPConn).SetLinger(0)
			}
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestRedirects follows redirects against loopback servers: the normal
// path, relative Locations, too many redirects, Locations that cannot be
// followed, and targets that fail. Every record must name the URL where
// the chain ended.
func TestRedirects(t *testing.T) {
	t.Parallel()
	forClients(t, func(t *testing.T, client Client) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch p := r.URL.Path; {
			case strings.HasSuffix(p, "/to"):
				// Redirect to the "loc" parameter as it is, however bad.
				code := http.StatusFound
				if c := r.URL.Query().Get("code"); c != "" {
					code, _ = strconv.Atoi(c)
				}
				w.Header()["Location"] = []string{r.URL.Query().Get("loc")}
				w.WriteHeader(code)
			case strings.HasPrefix(p, "/r/") && p != "/r/0":
				n, _ := strconv.Atoi(strings.TrimPrefix(p, "/r/"))
				http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
			case p == "/loop":
				http.Redirect(w, r, "/loop", http.StatusMovedPermanently)
			case p == "/hang":
				select {
				case <-r.Context().Done():
				case <-release:
				}
			default:
				io.WriteString(w, "landed")
			}
		}))
		defer srv.Close()
		defer close(release)
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		reset, eof := rawServer(t, true), rawServer(t, false)
		host := strings.TrimPrefix(srv.URL, "http://")
		// to is the URL of srv that redirects to loc with status code.
		to := func(path, loc string, code int) string {
			return fmt.Sprintf("%s%s/to?code=%d&loc=%s", srv.URL, path, code, url.QueryEscape(loc))
		}
		s := srv.URL

		tests := []struct {
			name     string
			in       string
			opts     Options
			kind     string
			status   int
			final    string
			message  string // a part of it
			attempts int
		}{
			// Followed, to the end.
			{name: "no redirect", in: s + "/r/0", opts: Options{MaxRedirects: 10}, status: 200, final: s + "/r/0"},
			{name: "as many as allowed", in: s + "/r/3", opts: Options{MaxRedirects: 3}, status: 200, final: s + "/r/0"},
			{name: "fewer than allowed", in: s + "/r/3", opts: Options{MaxRedirects: 10}, status: 200, final: s + "/r/0"},
			{name: "301", in: to("", "/landed", 301), opts: Options{MaxRedirects: 1}, status: 200, final: s + "/landed"},
			{name: "303", in: to("", "/landed", 303), opts: Options{MaxRedirects: 1}, status: 200, final: s + "/landed"},
			{name: "307", in: to("", "/landed", 307), opts: Options{MaxRedirects: 1}, status: 200, final: s + "/landed"},
			{name: "308", in: to("", "/landed", 308), opts: Options{MaxRedirects: 1}, status: 200, final: s + "/landed"},
			{name: "relative name", in: to("/a/b", "c", 302), opts: Options{MaxRedirects: 1}, status: 200, final: s + "/a/b/c"},
			{name: "relative parent", in: to("/a/b", "../c", 302), opts: Options{MaxRedirects: 1}, status: 200, final: s + "/a/c"},
			{name: "relative query", in: to("/a/b", "?loc=/landed", 302), opts: Options{MaxRedirects: 2}, status: 200, final: s + "/landed"},
			{name: "relative to the current URL, not the first",
				in: to("/a/b", "/x/y/to?loc=z", 302), opts: Options{MaxRedirects: 2}, status: 200, final: s + "/x/y/z"},
			{name: "scheme-relative", in: to("", "//"+host+"/landed", 302), opts: Options{MaxRedirects: 1}, status: 200, final: s + "/landed"},
			{name: "absolute", in: to("", s+"/landed", 302), opts: Options{MaxRedirects: 1}, status: 200, final: s + "/landed"},

			// One redirect too many.
			{name: "over the limit", in: s + "/r/4", opts: Options{MaxRedirects: 3}, kind: KindRedirects, status: 302,
				final: s + "/r/1", message: "more than 3 redirects; next: /r/0"},
			{name: "none allowed", in: s + "/r/1", opts: Options{MaxRedirects: 0}, kind: KindRedirects, status: 302,
				final: s + "/r/1", message: "more than 0 redirects; next: /r/0"},
			{name: "loop", in: s + "/loop", opts: Options{MaxRedirects: 5, Retries: 2}, kind: KindRedirects, status: 301,
				final: s + "/loop", message: "more than 5 redirects; next: /loop"},

			// A Location that cannot be followed: not retried, and the record
			// has the redirect's status and URL.
			{name: "ftp", in: to("", "ftp://x/", 302), opts: Options{MaxRedirects: 5, Retries: 2}, kind: KindRedirects, status: 302,
				final: to("", "ftp://x/", 302), message: `bad redirect Location "ftp://x/": scheme "ftp" is not http or https`},
			{name: "javascript", in: to("", "javascript:alert(1)", 301), opts: Options{MaxRedirects: 5}, kind: KindRedirects, status: 301,
				final: to("", "javascript:alert(1)", 301), message: `bad redirect Location "javascript:alert(1)": scheme "javascript"`},
			{name: "file", in: to("", "file:///etc/passwd", 307), opts: Options{MaxRedirects: 5}, kind: KindRedirects, status: 307,
				final: to("", "file:///etc/passwd", 307), message: `bad redirect Location "file:///etc/passwd": scheme "file"`},
			{name: "unparseable host", in: to("", "http://[::1", 302), opts: Options{MaxRedirects: 5, Retries: 2}, kind: KindRedirects, status: 302,
				final: to("", "http://[::1", 302), message: `bad redirect Location "http://[::1": parse "http://[::1": missing ']' in host`},
			{name: "unparseable escape", in: to("", "/a%zz", 308), opts: Options{MaxRedirects: 5}, kind: KindRedirects, status: 308,
				final: to("", "/a%zz", 308), message: `bad redirect Location "/a%zz": parse "/a%zz": invalid URL escape`},
			{name: "no host", in: to("", "http:///x", 302), opts: Options{MaxRedirects: 5}, kind: KindRedirects, status: 302,
				final: to("", "http:///x", 302), message: `bad redirect Location "http:///x": no host`},
			{name: "after a good hop", in: to("", "/to?code=303&loc=ftp://x/", 302), opts: Options{MaxRedirects: 5}, kind: KindRedirects, status: 303,
				final: s + "/to?code=303&loc=ftp://x/", message: `bad redirect Location "ftp://x/"`},
			{name: "bad Location over the limit", in: to("", "ftp://x/", 302), opts: Options{MaxRedirects: 0}, kind: KindRedirects, status: 302,
				final: to("", "ftp://x/", 302), message: `bad redirect Location "ftp://x/"`},

			// The target fails: the record has the failure's kind, and the
			// URL where it happened.
			{name: "target refused", in: to("", closed.URL+"/gone", 302), opts: Options{MaxRedirects: 5, Retries: 1, Backoff: time.Millisecond},
				kind: KindRefused, final: closed.URL + "/gone", message: "connection refused", attempts: 2},
			{name: "target resets", in: to("", reset+"/x", 302), opts: Options{MaxRedirects: 5}, kind: KindConnection, final: reset + "/x"},
			{name: "target closes", in: to("", eof+"/x", 302), opts: Options{MaxRedirects: 5}, kind: KindConnection, final: eof + "/x",
				message: "connection closed before the response was complete"},
			{name: "target times out", in: to("", "/hang", 302), opts: Options{MaxRedirects: 5, Timeout: time.Second},
				kind: KindTimeout, final: s + "/hang", message: "attempt took longer than 1s"},
			{name: "second target refused", in: to("", "/to?loc="+url.QueryEscape(closed.URL+"/gone"), 302), opts: Options{MaxRedirects: 5},
				kind: KindRefused, final: closed.URL + "/gone"},
			{name: "first URL refused", in: closed.URL + "/", opts: Options{MaxRedirects: 5}, kind: KindRefused, final: ""},
		}
		for _, tt := range tests {
			tt.opts.Client = client
			f := mustNew(t, tt.opts)
			recs := run(t, f, []string{tt.in})
			if len(recs) != 1 {
				t.Fatalf("%s: %d records, want 1", tt.name, len(recs))
			}
			r := recs[0]
			if tt.attempts == 0 {
				tt.attempts = 1
			}
			if r.Error != tt.kind || r.Status != tt.status || r.FinalURL != tt.final || r.Attempts != tt.attempts ||
				!strings.Contains(r.Message, tt.message) {
				t.Errorf("%s: error %q, status %d, final %q, %d attempts, message %q\n"+
					"want error %q, status %d, final %q, %d attempts, message containing %q",
					tt.name, r.Error, r.Status, r.FinalURL, r.Attempts, r.Message,
					tt.kind, tt.status, tt.final, tt.attempts, tt.message)
			}
			if tt.kind == "" && r.Bytes != int64(len("landed")) {
				t.Errorf("%s: %d bytes, want %d", tt.name, r.Bytes, len("landed"))
			}
		}
	})
}

func TestCheckLocation(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://h.example/a/b?q=1")
	tests := []struct {
		loc  string
		want string // "" if it can be followed, else a part of the error
	}{
		{"c", ""},
		{"../c", ""},
		{"?x=1", ""},
		{"#frag", ""},
		{"//other.example/", ""},
		{"HTTP://other.example/", ""},
		{"https://other.example:8443/x", ""},
		{"ftp://x/", `scheme "ftp" is not http or https`},
		{"javascript:alert(1)", `scheme "javascript"`},
		{"mailto:a@b.example", `scheme "mailto"`},
		{"data:text/plain,hi", `scheme "data"`},
		{"http:///x", "no host"},
		{"http:x", "no host"},
		{"http://[::1", "missing ']' in host"},
		{"/a%zz", "invalid URL escape"},
		{"http://h.example:port/", "invalid port"},
	}
	f := mustNew(t, Options{})
	checkLocation := func(base *url.URL, loc string) error {
		_, err := f.nextHop(&hop{url: base, printed: base.String(), host: base.Host}, loc)
		return err
	}
	for _, tt := range tests {
		err := checkLocation(base, tt.loc)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v, want no error", tt.loc, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: error %v, want one containing %q", tt.loc, err, tt.want)
		}
	}
}
