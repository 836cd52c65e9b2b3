package threshold

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// JUnit XML, as CI systems read it (Jenkins, GitLab, GitHub Actions
// reporters): one test suite for the run, one test case per threshold, a
// <failure> for each that failed. The layout follows the common subset of
// the Ant JUnit schema that these tools agree on.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit is what WriteJUnit writes about the run besides the verdicts.
type JUnit struct {
	// Suite names the test suite: "gather bench" or "gather report".
	Suite string
	// Summary is the run judged; its target, requests and elapsed time
	// go into the suite's properties.
	Summary *report.Summary
	// Started is when the run started; zero leaves the timestamp out.
	Started time.Time
}

// WriteJUnit writes the verdicts as JUnit XML: one <testcase> per
// threshold, named by its expression, with a <failure> when it failed.
func WriteJUnit(w io.Writer, j JUnit, vs []report.Verdict) error {
	s := j.Summary
	elapsed := fmt.Sprintf("%.3f", s.Elapsed.Seconds())
	suite := junitSuite{Name: j.Suite, Tests: len(vs), Time: elapsed,
		Properties: []junitProperty{
			{"target", s.Target}, {"method", s.Method}, {"model", s.Model()},
			{"requests", fmt.Sprint(s.Requests)}, {"errors", fmt.Sprint(s.Errors)},
			{"requests_per_s", fmt.Sprintf("%.1f", s.RequestsPerSecond())}, {"runs", fmt.Sprint(s.Runs)},
		}}
	if !j.Started.IsZero() {
		suite.Timestamp = j.Started.UTC().Format("2006-01-02T15:04:05")
	}
	for _, v := range vs {
		class := "thresholds"
		if v.Target != "" {
			class = "thresholds." + strings.ReplaceAll(v.Target, ".", "_")
		}
		c := junitCase{Name: v.Expr, Classname: class, Time: "0", SystemOut: "measured: " + v.Measured}
		if !v.Pass {
			suite.Failures++
			c.Failure = &junitFailure{Type: "threshold",
				Message: fmt.Sprintf("%s failed: measured %s", v.Expr, v.Measured),
				Text:    fmt.Sprintf("%s %s %s is false: measured %s", v.Metric, v.Op, limitText(v), v.Measured)}
		}
		suite.Cases = append(suite.Cases, c)
	}
	doc := junitSuites{Name: j.Suite, Tests: suite.Tests, Failures: suite.Failures, Time: elapsed, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func limitText(v report.Verdict) string {
	switch v.Unit {
	case "":
		return fmt.Sprint(v.Limit)
	case "%":
		return fmt.Sprintf("%g%%", v.Limit)
	}
	return fmt.Sprintf("%g %s", v.Limit, v.Unit)
}
