package gatherhttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/gatherhttp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func get(t *testing.T, method, url, accept string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestHandler(t *testing.T) {
	defer gather.SetTracking(true)()
	release := make(chan struct{})
	task := gather.Go(context.Background(), func(ctx context.Context) (int, error) {
		<-release
		return 0, nil
	}, gather.Name("served"))
	defer task.Await(context.Background())
	defer close(release)

	mux := http.NewServeMux()
	mux.Handle(gatherhttp.Path, gatherhttp.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	url := srv.URL + gatherhttp.Path

	resp, body := get(t, "GET", url, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(body, `task "served" · running`) {
		t.Errorf("GET: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	for _, ask := range []struct{ url, accept string }{{url + "?format=json", ""}, {url, "application/json"}} {
		resp, body = get(t, "GET", ask.url, ask.accept)
		tree, err := gather.ReadTasks(strings.NewReader(body))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || err != nil {
			t.Fatalf("GET %s (Accept %q): %s, %v\n%s", ask.url, ask.accept, resp.Status, err, body)
		}
		found := false
		for _, ti := range tree.Tasks {
			found = found || ti.Name == "served" && ti.State == "running"
		}
		if !found || !json.Valid([]byte(body)) {
			t.Errorf("the JSON tree lacks the running task:\n%s", body)
		}
	}
	if resp, body = get(t, "GET", url+"?format=xml", ""); resp.StatusCode != 400 || !strings.Contains(body, `unknown format "xml"`) {
		t.Errorf("?format=xml: %s %s", resp.Status, body)
	}
	if resp, _ = get(t, "POST", url, ""); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
	if resp, body = get(t, "HEAD", url, ""); resp.StatusCode != 200 || body != "" {
		t.Errorf("HEAD: %s with a body of %d bytes", resp.Status, len(body))
	}
}
