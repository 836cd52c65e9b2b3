package main

import (
	"fmt"
	"io"

	"github.com/gather-dev/gather/internal/report"
)

// runFailed returns exit status 1, saying why in one line on stderr, for a
// run that measured nothing but its failure: the engine stopped it early
// (--http2 at a server without HTTP/2), or every request that ended
// failed (refused, timed out, a TLS handshake that could not be made).
// Such a run is an operational failure after the start, by the README's
// rule: it ran, but not against a server that answered. Some failed
// requests among answered ones are the report's to count, and a
// --threshold's to judge (status 3, which the caller returns first); 0
// requests ended (all cut by -z) is not a failure.
func runFailed(sum *report.Summary, stderr io.Writer) error {
	switch {
	case sum.Generator.StoppedEarly:
		fmt.Fprintln(stderr, "gather: bench: the run stopped early: no request would be answered (the report's WARNING says why)")
	case sum.Requests > 0 && sum.Errors == sum.Requests:
		fmt.Fprintf(stderr, "gather: bench: every request failed (%d of %d; the report's errors say how)\n", sum.Errors, sum.Requests)
	default:
		return nil
	}
	return exitStatus(1)
}
