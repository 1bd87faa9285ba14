package main

import (
	"context"
	"testing"
	"time"

	"github.com/corral/corral/bindings/go/corraltest"
)

func TestHello(t *testing.T) {
	c := corraltest.Start(t, corraltest.Agents(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, c.Master()); err != nil {
		t.Fatal(err)
	}
}
