#!/usr/bin/env bash
# Generates the Go SDK's committed sources: the protobuf messages
# (corralpb/..., protoc with protoc-gen-go) and the SWIG wrappers
# (internal/native, corraltest/internal/clusternative).
#   bash bindings/go/generate.sh           rewrite them in place
#   bash bindings/go/generate.sh --check   fail if they differ from what the
#                                          .proto and .i files give
# Needs protoc (Debian's 3.21), swig (Debian's 4.1) and protoc-gen-go of
# PROTOC_GEN_GO_VERSION, which it installs with `go install` if missing.
set -euo pipefail
cd "$(dirname "$0")"
PROTOC_GEN_GO_VERSION=v1.36.12
MODULE=github.com/corral/corral/bindings/go
check=0
[ "${1:-}" = "--check" ] && check=1

gobin="$(go env GOPATH)/bin"
if [ "$("$gobin/protoc-gen-go" --version 2>/dev/null)" != "protoc-gen-go $PROTOC_GEN_GO_VERSION" ]; then
  go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
protos=$(cd ../../core/proto && ls corral/v1/*.proto)
PATH="$gobin:$PATH" protoc --proto_path=../../core/proto --go_out="$out" --go_opt=module=$MODULE $protos
swig_one() {  # <dir> <module>
  mkdir -p "$out/$1"
  swig -go -cgo -c++ -intgosize 64 -Inative/include -module "$2" -o "$out/$1/$2_wrap.cxx" -outdir "$out/$1" "$1/$2.i"
}
swig_one internal/native native
swig_one corraltest/internal/clusternative clusternative

generated=$(cd "$out" && find . -type f | sed 's|^\./||' | sort)
if [ $check -eq 1 ]; then
  stale=0
  for f in $generated; do
    cmp -s "$out/$f" "$f" || { echo "stale: bindings/go/$f"; stale=1; }
  done
  for f in $(find corralpb -name '*.pb.go' | sort); do
    [ -f "$out/$f" ] || { echo "not generated any more: bindings/go/$f"; stale=1; }
  done
  [ $stale -eq 0 ] || { echo "run: bash bindings/go/generate.sh"; exit 1; }
  echo "go: generated sources are current"
else
  for f in $generated; do mkdir -p "$(dirname "$f")"; cp "$out/$f" "$f"; done
fi
