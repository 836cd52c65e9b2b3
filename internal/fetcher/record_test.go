package fetcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the flusher goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWriterFlushes checks that a record reaches the output within the
// flush interval even when no other record follows it, and that every
// line is one valid JSON object with URLs left readable.
func TestWriterFlushes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		w := NewWriter(&out, 100*time.Millisecond)
		body := "<b>&</b>"
		if err := w.Write(&Record{Line: 1, URL: "http://x/?a=1&b=2", Body: &body}); err != nil {
			t.Fatal(err)
		}
		if out.String() != "" {
			t.Fatalf("written before the flush interval: %q", out.String())
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		got := out.String()
		if !strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 || !strings.Contains(got, `"url":"http://x/?a=1&b=2"`) {
			t.Fatalf("after the interval: %q", got)
		}
		var rec Record
		if err := json.Unmarshal([]byte(got), &rec); err != nil || *rec.Body != body {
			t.Fatalf("does not read back: %v, %+v", err, rec)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterError(t *testing.T) {
	t.Parallel()
	w := NewWriter(failingWriter{}, 0)
	big := strings.Repeat("x", 100<<10) // more than the buffer: written at once
	err := w.Write(&Record{URL: big})
	if err == nil {
		err = w.Write(&Record{URL: big})
	}
	if err == nil || w.Close() == nil {
		t.Fatalf("write error not reported: %v", err)
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	var s Summary
	for _, r := range []Record{
		{Status: 200}, {Status: 200}, {Status: 404, Error: KindStatus},
		{Error: KindTimeout}, {Error: KindInvalid}, {Error: KindTimeout},
	} {
		s.Add(&r)
	}
	var b strings.Builder
	s.Format(&b, 2*time.Second)
	want := "fetched 6 URLs in 2s (3 URLs/s): 2 ok, 4 failed\n" +
		"  status  200: 2, 404: 1\n" +
		"  errors  invalid: 1, status: 1, timeout: 2\n"
	if b.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}

// The bar counts records written against the records to come, not the
// input read: nothing written is 0%, whatever has been read; a note goes
// on a line of its own above the bar.
func TestProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		p := StartProgress(&out, time.Second)
		time.Sleep(time.Second)
		synctest.Wait()
		p.SetTotal(60)
		time.Sleep(time.Second)
		synctest.Wait()
		for i := range 30 {
			p.Add(&Record{Error: map[bool]string{true: KindTimeout}[i%10 == 0]})
		}
		p.Note("a note")
		time.Sleep(time.Second)
		synctest.Wait()
		p.Stop()
		p.Stop()
		got := out.String()
		want := "\r\x1b[K0 done, 0 failed, 0 URLs/s, 1s" +
			"\r\x1b[K[                              ]   0% 0 of 60 done, 0 failed, 0 URLs/s, 2s" +
			"\r\x1b[Ka note\n" +
			"\r\x1b[K[===============               ]  50% 30 of 60 done, 3 failed, 10 URLs/s, 3s" +
			"\r\x1b[K"
		if got != want {
			t.Errorf("progress output:\n%q\nwant\n%q", got, want)
		}
	})
}
