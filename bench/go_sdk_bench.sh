#!/usr/bin/env bash
# The Go SDK's benchmark (bindings/go/internal/sdkbench) against the C++ one.
# Needs the native libraries and the C++ benchmark built:
#   scripts/dev.sh build && cmake --build build --target sdk_events_bench
#   bash bench/go_sdk_bench.sh [-reps N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="$(cd "${CORRAL_BUILD_DIR:-build}" && pwd)"
cd bindings/go
PKG_CONFIG_PATH="$BUILD_DIR/go/pkgconfig" exec go run ./internal/sdkbench -cpp "$BUILD_DIR/bin/sdk_events_bench" "$@"
