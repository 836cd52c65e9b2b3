package html

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/gather-dev/gather/internal/report"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// chromiumPath returns Debian's chromium (in .ci/apt-packages). Without
// it the browser test fails under CI and is skipped elsewhere.
func chromiumPath(t testing.TB) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: .ci/run installs it from .ci/apt-packages")
	}
	t.Skip("chromium is not installed (apt-get install chromium): the report page is not opened in a browser")
	return ""
}

// browser starts a headless Chromium for the test, with the flags that
// keep it from reaching for the network at start-up (component updates,
// sync, QUIC probes), and a fresh profile.
func browser(t testing.TB) context.Context { return browserFor(t, 90*time.Second) }

// browserFor is browser for a test that may take up to d.
func browserFor(t testing.TB, d time.Duration) context.Context {
	path := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return bctx
}

// pageEvents collects what a page asked for and complained about.
type pageEvents struct {
	mu       sync.Mutex
	requests []string
	problems []string
}

func (e *pageEvents) listen(ctx context.Context) error {
	return chromedp.Listen(ctx, func(ev any) {
		e.mu.Lock()
		defer e.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			e.requests = append(e.requests, ev.Request.URL)
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			e.problems = append(e.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *runtime.EventConsoleAPICalled:
			switch ev.Type {
			case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeWarning, runtime.ConsoleAPICalledTypeAssert:
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				e.problems = append(e.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				e.problems = append(e.problems, fmt.Sprintf("log %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
}

// chartState is what the test reads of each chart drawn.
type chartState struct {
	Series int   `json:"series"` // series drawn, x not counted
	Legend int   `json:"legend"` // legend entries, x not counted
	Points []int `json:"points"` // values per series (a null, a point without value, counts)
}

const readCharts = `Object.fromEntries(Object.entries(window.gatherCharts).map(([id, u]) => [id, {
	series: u.series.length - 1,
	legend: u.root.querySelectorAll(".u-legend .u-series").length - 1,
	points: u.data.slice(1).map((s) => s.filter((v) => v !== undefined).length),
}]))`

// openPage writes the page to dir, opens it in a new tab and returns its
// charts, once the page's script has drawn them all.
func openPage(t *testing.T, bctx context.Context, dir, name string, p Page) (map[string]chartState, float64, context.Context) {
	t.Helper()
	path := filepath.Join(dir, name)
	var buf bytes.Buffer
	if err := Write(&buf, p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tab, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	var ev pageEvents
	if err := ev.listen(tab); err != nil {
		t.Fatal(err)
	}
	pageURL := (&url.URL{Scheme: "file", Path: path}).String()
	// A page whose script failed never gets ready: give up after 30 s
	// and say why.
	wait, cancelWait := context.WithTimeout(tab, 30*time.Second)
	defer cancelWait()
	err := chromedp.Do(wait, chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	var charts map[string]chartState
	var renderMs float64
	if err == nil {
		charts, err = chromedp.Run(tab, chromedp.Evaluate[map[string]chartState](readCharts))
	}
	if err == nil {
		renderMs, err = chromedp.Run(tab, chromedp.Evaluate[float64](`window.gatherRenderMs`))
	}
	if err != nil {
		ev.mu.Lock()
		t.Fatalf("opening %s: %v (problems: %q)", name, err, ev.problems)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, p := range ev.problems {
		t.Errorf("%s: %s", name, p)
	}
	for _, u := range ev.requests {
		if u != pageURL {
			t.Errorf("%s asked for %s: a page must make no request", name, u)
		}
	}
	t.Logf("%s: %d KiB, drawn %.0f ms after navigation started", name, buf.Len()/1024, renderMs)
	return charts, renderMs, tab
}

// checkChart fails unless chart id draws one series per name, each with
// points values, and has a legend entry for each.
func checkChart(t *testing.T, charts map[string]chartState, id string, series int, points ...int) {
	t.Helper()
	c, ok := charts[id]
	if !ok {
		t.Errorf("no chart %q (charts: %v)", id, chartIDs(charts))
		return
	}
	if c.Series != series || c.Legend != series {
		t.Errorf("chart %s: %d series, %d legend entries; want %d", id, c.Series, c.Legend, series)
	}
	for i, n := range c.Points {
		if want := points[min(i, len(points)-1)]; n != want {
			t.Errorf("chart %s, series %d: %d points, want %d", id, i, n, want)
		}
	}
}

func chartIDs(charts map[string]chartState) []string {
	var ids []string
	for id := range charts {
		ids = append(ids, id)
	}
	return ids
}

// TestPageInBrowser opens a report of the known run, then one comparing
// two runs, in headless Chromium: the pages load without a console error
// or a request, every chart holds a point per interval of the run, two
// runs make two legend entries, and a screenshot is kept in the test's
// temporary directory.
func TestPageInBrowser(t *testing.T) {
	bctx := browser(t)
	dir := t.TempDir()

	known := loadKnown(t)
	n := known.Series.Len()
	charts, _, tab := openPage(t, bctx, dir, "known.html", Page{Runs: []Run{{Name: "known.json", Summary: known}}})
	checkChart(t, charts, "throughput", 2, n)      // requests/s, target rate
	checkChart(t, charts, "response", 4, n)        // p50, p90, p99, max
	checkChart(t, charts, "service", 4, n)         // the same, of service time
	checkChart(t, charts, "errors", 1, n)          // timeout
	checkChart(t, charts, "status", 2, n)          // 2xx, 5xx
	checkChart(t, charts, "spectrum", 2, 201)      // response, service
	checkChart(t, charts, "histogram", 1, 40)      // buckets
	checkChart(t, charts, "target-rate-0", 2, n)   // GET /, login
	checkChart(t, charts, "target-errors-0", 2, n) // GET /, login
	checkChart(t, charts, "target-spectrum-0", 2, 201)
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "known.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("screenshot of %d bytes", len(png))
	}
	t.Logf("screenshot: %s", shot)
	if keep := os.Getenv("GATHER_SCREENSHOT_DIR"); keep != "" { // for the docs
		os.WriteFile(filepath.Join(keep, "known.png"), png, 0o644)
	}

	// Before and after: two runs an hour apart, the second starting
	// 300 ms into a second, so its points fall elsewhere than the first's.
	after := knownRun(knownStart.Add(time.Hour + 300*time.Millisecond))
	na := after.Series.Len()
	var m report.Summary
	m.Add(known)
	m.Add(after)
	charts, _, _ = openPage(t, bctx, dir, "compare.html", Page{Runs: []Run{{Name: "before", Summary: known}, {Name: "after", Summary: after}}, Merged: &m})
	for _, id := range []string{"throughput", "response", "service", "errors", "status"} {
		checkChart(t, charts, id, 2, n, na)
	}
	checkChart(t, charts, "spectrum", 2, 201)
	checkChart(t, charts, "histogram", 2, 40)
	checkChart(t, charts, "target-rate-0", 2, n)
	checkChart(t, charts, "target-rate-1", 2, na)

	// A run of one target, without errors or targets blocks: a minute of
	// the open model at 100 req/s.
	minute := longRun(knownStart, time.Minute, 100, 1)
	charts, _, _ = openPage(t, bctx, dir, "minute.html", Page{Runs: []Run{{Name: "minute", Summary: minute}}})
	nm := minute.Series.Len()
	checkChart(t, charts, "throughput", 2, nm)
	checkChart(t, charts, "response", 4, nm)
	checkChart(t, charts, "histogram", 1, 40)
	if _, ok := charts["target-rate-0"]; ok {
		t.Error("a run of one target has per-target charts")
	}

	// A run saved before runs kept a series, beside one that keeps one.
	old := loadKnown(t)
	old.Series, old.Start = nil, time.Time{}
	charts, _, _ = openPage(t, bctx, dir, "old.html", Page{Runs: []Run{{Name: "old", Summary: old}, {Name: "new", Summary: known}}})
	checkChart(t, charts, "throughput", 1, n) // the new run's only
	checkChart(t, charts, "spectrum", 2, 201)
	checkChart(t, charts, "target-spectrum-0", 2, 201)

	// Segments of one run: two machines 2 s apart, and their merge.
	other := knownRun(knownStart.Add(2 * time.Second))
	var seg report.Summary
	seg.Add(known)
	seg.Add(other)
	charts, _, _ = openPage(t, bctx, dir, "segments.html", Page{Runs: []Run{{Name: "a", Summary: known}, {Name: "b", Summary: other}}, Merged: &seg})
	checkChart(t, charts, "throughput", 3, n, other.Series.Len(), seg.Series.Len())
	checkChart(t, charts, "target-rate-0", 2, seg.Series.Len()) // the merge's only
}
