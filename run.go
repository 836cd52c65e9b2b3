package gather

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// These are variables so that tests can watch what Run does on a second
// signal without the test binary exiting.
var (
	stderr io.Writer = os.Stderr
	exit             = os.Exit
)

// SignalError is the cause of the context that [Run] cancels when the
// process receives SIGINT or SIGTERM.
type SignalError struct {
	Signal os.Signal
}

func (e *SignalError) Error() string { return "gather: received " + e.Signal.String() }

// Is reports that a SignalError matches [context.Canceled].
func (e *SignalError) Is(target error) bool { return target == context.Canceled }

// ErrMainReturned is the cause of Run's context once main has returned:
// tasks still running then are asked to stop.
var ErrMainReturned = errors.New("gather: main returned")

// Run runs main with a root context and returns its error, like
// asyncio.run. It is meant to be called once, from func main.
//
// The context is cancelled, with a [*SignalError] as its cause, on the
// first SIGINT (Ctrl-C) or SIGTERM, so main can stop cleanly and still
// report what it did; a second signal ends the process at once, with exit
// status 130 for SIGINT and 143 for SIGTERM.
//
// When main returns, Run cancels the context with cause [ErrMainReturned],
// waits for every task and group child started from it (directly or not),
// and reports the failed tasks whose errors nobody read to the
// unretrieved-error handler (see [SetUnretrievedHandler]); tasks that
// stopped because of that cancellation are not reported. Signals are still
// watched meanwhile: the second since Run began ends the process, so a task
// that ignores its context cannot keep it alive past two Ctrl-Cs. A task
// started after Run has stopped waiting, by a goroutine that no task or
// group owns, is not waited for. A panic in main is returned as a
// [*PanicError].
func Run(main func(ctx context.Context) error) error {
	tr := &tracker{}
	ctx, cancel := context.WithCancelCause(context.WithValue(context.Background(), trackerKey{}, tr))
	defer cancel(nil)

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	stop := make(chan struct{})
	watcherDone := make(chan struct{})
	defer func() {
		// Deferred so that the goroutine ends even if main calls
		// runtime.Goexit.
		close(stop)
		<-watcherDone
	}()
	go func() {
		defer close(watcherDone)
		select {
		case s := <-signals:
			cancel(&SignalError{Signal: s})
		case <-stop:
			return
		}
		select {
		case s := <-signals:
			fmt.Fprintf(stderr, "gather: second %v, exiting now\n", s)
			code := 130
			if s == syscall.SIGTERM {
				code = 143
			}
			exit(code)
		case <-stop:
		}
	}()

	err := callErr(ctx, main, nil)
	cancel(ErrMainReturned)
	for _, st := range tr.wait() {
		reportIfUnretrieved(st)
	}
	return err
}
