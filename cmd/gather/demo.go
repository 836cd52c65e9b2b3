package main

import "github.com/spf13/cobra"

// Placeholder until the demo subcommand lands.
func newDemoCmd() *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "(not yet built)", Hidden: true}
}
