package main

import "github.com/spf13/cobra"

// Placeholder until the bench subcommand lands.
func newBenchCmd() *cobra.Command {
	return &cobra.Command{Use: "bench", Short: "(not yet built)", Hidden: true}
}
