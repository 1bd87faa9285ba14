#!/usr/bin/env bash
# The Java SDK's benchmark (bench/JavaSdkBench.java) against the C++ one.
# Needs the jars and the C++ benchmark built:
#   scripts/dev.sh java && cmake --build build --target sdk_events_bench
#   bash bench/java_sdk_bench.sh [--reps N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${CORRAL_BUILD_DIR:-build}"
protobuf="$(find "${HOME}/.m2/repository/com/google/protobuf/protobuf-java/3.21.12" -name 'protobuf-java-3.21.12.jar')"
cp="bindings/java/sdk/target/corral-sdk-0.1.0.jar:bindings/java/testing/target/corral-testing-0.1.0.jar:${protobuf}"
exec java -cp "$cp" bench/JavaSdkBench.java --cpp "$BUILD_DIR/bin/sdk_events_bench" "$@"
