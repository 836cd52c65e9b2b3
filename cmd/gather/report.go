package main

import "github.com/spf13/cobra"

// Placeholder until the report subcommand lands.
func newReportCmd() *cobra.Command {
	return &cobra.Command{Use: "report", Short: "(not yet built)", Hidden: true}
}
