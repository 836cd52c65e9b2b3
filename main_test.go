package gather

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	SetUnretrievedHandler(unretrieved.add)
	goleak.VerifyTestMain(m,
		// ants, a peer in the benchmarks, starts a default pool when it
		// is loaded, whose goroutines live as long as the process.
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	)
}

// unretrieved collects what the unretrieved-error handler is given, so that
// tests can look for the errors they left unread on purpose.
var unretrieved reports

type reports struct {
	mu   sync.Mutex
	errs []error
	news chan struct{}
}

func (r *reports) add(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
	if r.news != nil {
		close(r.news)
		r.news = nil
	}
}

// has reports whether an error matching target was reported.
func (r *reports) has(target error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// captureUnretrieved sends the unretrieved-error reports to a list for the
// rest of the test, and returns a function that gives what was reported.
func captureUnretrieved(t *testing.T) func() []error {
	var mu sync.Mutex
	var got []error
	t.Cleanup(SetUnretrievedHandler(func(err error) {
		mu.Lock()
		got = append(got, err)
		mu.Unlock()
	}))
	return func() []error {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// changed returns a channel closed at the next report.
func (r *reports) changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.news == nil {
		r.news = make(chan struct{})
	}
	return r.news
}
