package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/corral/corral/bindings/go/corraltest"
)

// The agent starts this test binary as the executor (os.Executable with
// the argument "executor").
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "executor" {
		if err := runExecutor(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestPing(t *testing.T) {
	c := corraltest.Start(t, corraltest.Agents(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, c.Master()); err != nil {
		t.Fatal(err)
	}
}
