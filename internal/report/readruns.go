package report

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// savedMarker is in every saved run, whichever way it was written; a line
// without it is not one.
var savedMarker = []byte(`"` + saveFormat + `"`)

// ReadRuns reads the saved runs in r and calls each with every one, with
// the number of the line it begins on (from 1). r may hold:
//
//   - runs as [Summary.Save] writes them, one or several, each from a line
//     "{" to a line "}";
//   - runs as [Summary.SaveLine] writes them, one a line, among other lines:
//     the logs of several machines collected into one stream (kubectl logs
//     of a distributed run's pods), where each line may have a prefix that
//     holds no "{" (kubectl's --prefix and --timestamps).
//
// Other lines are skipped and counted, so that the caller can say so.
// ReadRuns stops at the first run that [Load] rejects, or the first error
// of each, and returns it with the line number; a stream that holds no
// run is an error too, [ErrFormat]'s, saying what was wrong with the
// first line that looked like one, if any. Memory holds one line (or one
// run) at a time.
func ReadRuns(r io.Reader, each func(line int, s *Summary) error) (skipped int, err error) {
	er := &readErr{r: r}
	lines := bufio.NewReaderSize(er, 64<<10)
	var block []byte // a run Save wrote, from its "{" line
	blockLine, n, runs := 0, 0, 0
	var firstBad error
	// Errors name the line of the run, but for the first: a file of one
	// run is named alone.
	atLine := func(at int, err error) error {
		if at == 1 {
			return err
		}
		return fmt.Errorf("line %d: %w", at, err)
	}
	load := func(at int, text []byte) error {
		s, err := Load(bytes.NewReader(text))
		if err != nil {
			return atLine(at, err)
		}
		runs++
		return each(at, s)
	}
	for {
		line, rerr := lines.ReadBytes('\n')
		if er.err != nil {
			return skipped, er.err
		}
		if len(line) > 0 {
			n++
			trimmed := bytes.TrimRight(line, "\r\n")
			switch {
			case block != nil:
				block = append(block, line...)
				if string(trimmed) == "}" {
					if err := load(blockLine, block); err != nil {
						return skipped, err
					}
					block = nil
				}
			case string(bytes.TrimSpace(trimmed)) == "{":
				block, blockLine = append([]byte(nil), line...), n
			case bytes.Contains(trimmed, savedMarker) && bytes.IndexByte(trimmed, '{') >= 0:
				if err := load(n, trimmed[bytes.IndexByte(trimmed, '{'):]); err != nil {
					return skipped, err
				}
			default:
				if t := bytes.TrimSpace(trimmed); firstBad == nil && len(t) > 0 && t[0] == '{' {
					if _, err := Load(bytes.NewReader(t)); err != nil {
						firstBad = atLine(n, err)
					}
				}
				skipped++
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	switch {
	case block != nil:
		// Load says what is wrong with a run cut short.
		if err := load(blockLine, block); err != nil {
			return skipped, err
		}
	case runs > 0:
		return skipped, nil
	case firstBad != nil:
		return skipped, firstBad
	case n == 0:
		return skipped, noRunsError("empty input")
	}
	if runs == 0 {
		if n == 1 {
			return skipped, noRunsError("no saved run in its one line")
		}
		return skipped, noRunsError(fmt.Sprintf("no saved run among its %d lines", n))
	}
	return skipped, nil
}

// ErrNoRuns is matched (errors.Is) by the error of [ReadRuns] for input
// that holds no saved run, nor anything that looked like one; so is
// [ErrFormat].
var ErrNoRuns = errors.New("no saved run")

type noRunsError string

func (e noRunsError) Error() string { return ErrFormat.Error() + ": " + string(e) }

func (e noRunsError) Is(target error) bool { return target == ErrFormat || target == ErrNoRuns }
