package main

import "github.com/spf13/cobra"

// Placeholder until the fetch subcommand lands.
func newFetchCmd() *cobra.Command {
	return &cobra.Command{Use: "fetch", Short: "(not yet built)", Hidden: true}
}
