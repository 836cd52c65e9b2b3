package main

import "github.com/spf13/cobra"

// Placeholder until the serve subcommand lands.
func newServeCmd() *cobra.Command {
	return &cobra.Command{Use: "serve", Short: "(not yet built)", Hidden: true}
}
