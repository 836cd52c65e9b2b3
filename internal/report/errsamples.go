package report

import "slices"

// A report shows, for each kind of failure, a few of the failed requests'
// own messages: "refused" says what failed, the message says where
// ("dial tcp 10.0.0.5:8080: connect: connection refused").
const (
	// ErrorSamplesPerKind is how many distinct messages a report keeps
	// for each kind of failure.
	ErrorSamplesPerKind = 3
	// errorLooksPerKind bounds how many failures of one kind a Recorder
	// asks for their message (an allocation each), so that a run of a
	// million identical failures costs 64 messages, not a million.
	errorLooksPerKind = 64
	// maxErrorSampleLen caps one message, in bytes: a protocol error may
	// quote what the server sent.
	maxErrorSampleLen = 240
)

// errorSamples holds up to ErrorSamplesPerKind distinct messages per kind.
type errorSamples [numErrorKinds][]string

// add keeps msg for kind k if there is room and it is new.
func (e *errorSamples) add(k ErrorKind, msg string) {
	if len(msg) > maxErrorSampleLen {
		msg = msg[:maxErrorSampleLen] + "..."
	}
	if len(e[k]) < ErrorSamplesPerKind && !slices.Contains(e[k], msg) {
		e[k] = append(e[k], msg)
	}
}

// merge adds other's messages to e's, as far as there is room.
func (e *errorSamples) merge(other *errorSamples) {
	for k := range other {
		for _, msg := range other[k] {
			e.add(ErrorKind(k), msg)
		}
	}
}

// clone returns a copy of e that shares no slice with it.
func (e *errorSamples) clone() errorSamples {
	var c errorSamples
	for k := range e {
		c[k] = slices.Clone(e[k])
	}
	return c
}

// ErrorSamples returns up to [ErrorSamplesPerKind] distinct messages of
// the failed requests of kind k, in the order they were first seen (by
// one worker; across workers, in the order of the merge).
func (s *Summary) ErrorSamples(k ErrorKind) []string {
	if k >= numErrorKinds {
		return nil
	}
	return s.errSamples[k]
}
