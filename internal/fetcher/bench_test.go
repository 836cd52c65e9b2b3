package fetcher

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRunLoopback fetches b.N URLs from a loopback server at -c 100,
// writing the records as JSON Lines: the whole path of one URL but the
// input parsing.
func BenchmarkRunLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	var in strings.Builder
	for i := range b.N {
		fmt.Fprintf(&in, "%s/delay/0s?i=%d\n", srv.URL, i)
	}
	f, err := New(Options{Concurrency: 100, Retries: 2, Timeout: 30e9})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(io.Discard, 100e6)
	defer w.Close()
	b.ReportAllocs()
	b.ResetTimer()
	err = f.Run(context.Background(), Lines(strings.NewReader(in.String())).All(), func(r *Record) error {
		if !r.OK() {
			return fmt.Errorf("%s: %s", r.Error, r.Message)
		}
		return w.Write(r)
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRunRaw fetches b.N URLs at -c 100 from a loopback server that
// answers every request with the same bytes, cheaply, so that the client's
// own cost shows: input lines, the own client, records written.
func BenchmarkRunRaw(b *testing.B) {
	for _, client := range []struct {
		name   string
		client Client
	}{{"own", ClientAuto}, {"net-http", ClientNetHTTP}} {
		b.Run(client.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n\r\nhello!")
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						buf := make([]byte, 4096)
						for {
							n, err := c.Read(buf)
							if err != nil {
								return
							}
							// One request per read: the client sends one at a time.
							if bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
								if _, err := c.Write(resp); err != nil {
									return
								}
							}
						}
					}()
				}
			}()
			var in strings.Builder
			for i := range b.N {
				fmt.Fprintf(&in, "http://%s/?i=%d\n", ln.Addr(), i)
			}
			f, err := New(Options{Concurrency: 100, Retries: 2, Timeout: 30e9, Client: client.client})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			w := NewWriter(io.Discard, 100e6)
			defer w.Close()
			b.ReportAllocs()
			b.ResetTimer()
			err = f.Run(context.Background(), Lines(strings.NewReader(in.String())).All(), func(r *Record) error {
				if !r.OK() {
					return fmt.Errorf("%s: %s", r.Error, r.Message)
				}
				return w.Write(r)
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
