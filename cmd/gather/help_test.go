package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestHelpProseFits checks that the prose of every command's long help
// is wrapped for an 80-column terminal, as the rest of it is: a sentence
// added to a paragraph without rewrapping it ran to 127 columns in
// report's. Indented lines (routes, examples) are left to their authors.
func TestHelpProseFits(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for i, line := range strings.Split(c.Long, "\n") {
			if !strings.HasPrefix(line, " ") && len([]rune(line)) > 80 {
				t.Errorf("gather %s --help, line %d of its text: %d columns, over 80:\n%s", c.Name(), i+1, len([]rune(line)), line)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}
