// Command appflowd is a self-hosted Amazon AppFlow: the AppFlow API on
// HTTP, and an engine that runs the flows.
//
//	appflowd serve [flags]        serve the API (see -h for flags)
//	appflowd run [flags] FLOW.json run one flow definition once, in process
//	appflowd version
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "appflowd:", err)
		os.Exit(1)
	}
}

// Run runs the command line args.
func Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		usage()
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return serveCmd(ctx, args[1:])
	case "run":
		return runCmd(ctx, args[1:])
	case "version", "-version", "--version":
		fmt.Println("appflowd", version)
		return nil
	case "help", "-h", "--help":
		usage()
		return nil
	default:
		usage()
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  appflowd serve [flags]          serve the AppFlow API (appflowd serve -h lists flags)
  appflowd run [flags] FLOW.json  run one flow definition (CreateFlow JSON) once
  appflowd version
`)
}
