#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for Corral, builds it, and runs it.
#   scripts/dev.sh local   install what is missing, build, start a local cluster
#   scripts/dev.sh test    install what is missing, build, run the whole test suite
#                          (C++ with ctest, the fuzzers for a bounded time, the
#                          Python SDK, HTTP API, marathon-lite and batch tests
#                          with pytest, the Java SDK's JUnit tests with Maven,
#                          then the Go SDK's with go test)
#   scripts/dev.sh build   install what is missing and build
#   scripts/dev.sh fuzz    build the libFuzzer targets with clang and run each
#                          for FUZZ_SECONDS (default 20); `test` does this too
#   scripts/dev.sh python  also install the Python SDK into build/venv
#   scripts/dev.sh java    also build the Java SDK's jars (bindings/java/*/target)
#   scripts/dev.sh go      build, then run the Go SDK's checks and tests
#   scripts/dev.sh format  rewrite the C++ sources in the project's style
#                          (.clang-format); `test` fails on C++ that is not
# Safe to run again: installs only what is missing, builds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${CORRAL_BUILD_DIR:-build}"
PACKAGES=(build-essential cmake ninja-build pkg-config
          libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
          libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
          libcurl4-openssl-dev libssl-dev openssl libjwt-dev libarchive-dev zlib1g-dev libboost-dev rapidjson-dev libre2-dev tzdata
          clang libclang-rt-14-dev clang-format
          python3 python3-dev python3-venv
          openjdk-17-jdk-headless maven swig
          libzookeeper-mt-dev zookeeper)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
}

build() {
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORRAL_BUILD_JAVA=ON -DCORRAL_BUILD_GO=ON
  elif ! grep -q '^CORRAL_BUILD_GO:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
    cmake -DCORRAL_BUILD_JAVA=ON -DCORRAL_BUILD_GO=ON "$BUILD_DIR" > /dev/null
  fi
  cmake --build "$BUILD_DIR" -j "$(nproc)"
}

# The Java SDK (bindings/java): Maven compiles the classes against the
# native libraries and generated sources the CMake build laid out under
# $BUILD_DIR/java, packs the jars, and with `verify` runs the JUnit tests.
# Maven fetches protobuf-java, JUnit and its plugins from Maven Central into
# ~/.m2 (kept between runs).
java_sdk() {
  # $1: the goals, split on spaces; $2: an optional flag.
  # shellcheck disable=SC2086
  mvn -B -q -f bindings/java/pom.xml -Dcorral.build="$(cd "$BUILD_DIR" && pwd)" $1 ${2:+"$2"}
}

# One line per JUnit class, from Surefire's reports.
java_report() {
  local f
  for f in bindings/java/*/target/surefire-reports/TEST-*.xml; do
    [ -f "$f" ] || continue
    grep -o '<testsuite [^>]*' "$f" | sed -E 's/.* name="([^"]*)" time="([^"]*)" tests="([0-9]*)" errors="([0-9]*)" skipped="([0-9]*)" failures="([0-9]*)".*/java \1: \3 tests, \6 failures, \4 errors (\2 s)/'
  done
}

# libFuzzer targets (fuzz/), in their own clang build with ASan and UBSan.
# Each runs for a bounded time from its seed corpus; a crash fails the run
# and leaves the input under $BUILD_DIR-fuzz/crashes. The same build runs
# sanitized_master_test and sanitized_batch_test, unit tests under ASan and
# UBSan for memory errors.
fuzz() {
  local dir="$BUILD_DIR-fuzz" seconds="${FUZZ_SECONDS:-20}"
  if [ ! -f "$dir/build.ninja" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORRAL_FUZZ=ON \
      -DCORRAL_BUILD_TESTS=OFF -DCORRAL_BUILD_BENCHMARKS=OFF > /dev/null
  fi
  cmake --build "$dir" -j "$(nproc)" --target recordio_fuzzer scheduler_call_fuzzer http_request_fuzzer cron_fuzzer iso8601_fuzzer \
    sanitized_master_test sanitized_batch_test
  mkdir -p "$dir/crashes"
  local name failed=0
  for name in sanitized_master_test sanitized_batch_test; do
    if "$dir/bin/$name" > "$dir/$name.log" 2>&1; then
      echo "$name: $(grep -o 'PASSED.*' "$dir/$name.log")"
    else
      echo "$name: FAILED"; tail -60 "$dir/$name.log"; failed=1
    fi
  done
  for name in recordio scheduler_call http_request cron iso8601; do
    local corpus
    corpus="$(mktemp -d)"
    if "$dir/bin/${name}_fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=0 \
        -artifact_prefix="$dir/crashes/${name}-" "$corpus" "fuzz/corpus/$name" > "$dir/${name}.log" 2>&1; then
      echo "fuzz ${name}: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$dir/${name}.log")"
    else
      echo "fuzz ${name}: FAILED"; tail -40 "$dir/${name}.log"; failed=1
    fi
    rm -rf "$corpus"
  done
  return $failed
}

# The C++ sources git knows of (tracked, or new and not ignored), less
# the Go SDK's SWIG output (generated, see bindings/go/generate.sh).
cxx_sources() {
  git ls-files -co --exclude-standard -- '*.cc' '*.h' ':!:bindings/go/**/*_wrap.h'
}

# Fails, naming the files, when any C++ source is not in the project's style.
check_format() {
  local bad
  bad=$(cxx_sources | xargs clang-format --dry-run --Werror 2>&1 | grep -o '^[^:]*\.\(cc\|h\)' | sort -u || true)
  if [ -n "$bad" ]; then
    echo "C++ not in the project's style (run scripts/dev.sh format):"
    echo "$bad" | sed 's/^/  /'
    return 1
  fi
  echo "format: $(cxx_sources | wc -l) C++ files in style"
}

# The Go SDK (bindings/go): checks that the committed generated sources
# (protobuf messages, SWIG wrappers) are current, then `go test -race`
# against the native libraries in $BUILD_DIR/go, found through pkg-config.
# The go command fetches google.golang.org/protobuf and goleak (and
# protoc-gen-go, for the check) from the Go module proxy.
go_sdk() {
  command -v go > /dev/null || { echo "the Go SDK's tests need Go 1.23 or newer on the PATH (go.dev/doc/install)"; return 1; }
  bash bindings/go/generate.sh --check
  local pc
  pc="$(cd "$BUILD_DIR" && pwd)/go/pkgconfig"
  (cd bindings/go && PKG_CONFIG_PATH="$pc" go test -race -count=1 ./...)
}

# The Python SDK (root pyproject.toml), installed with its test tools into a
# virtual environment; pip fetches scikit-build-core, pybind11, protobuf,
# pytest and mypy from PyPI. The native build is incremental (build/python).
python_sdk() {
  local venv="$BUILD_DIR/venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check ".[test]"
}

case "${1:-}" in
  local)
    install_packages
    build
    shift
    exec "$BUILD_DIR/bin/corral" local "$@"
    ;;
  test)
    install_packages
    check_format
    build
    python_sdk
    (cd "$BUILD_DIR" && ctest --output-on-failure -j "$(nproc)" --timeout 600)
    fuzz
    # Two sessions: each test directory has its own conftest module.
    "$BUILD_DIR/venv/bin/python" -m pytest -q -p no:cacheprovider tests/http_api
    "$BUILD_DIR/venv/bin/python" -m pytest -q -p no:cacheprovider bindings/python/tests
    "$BUILD_DIR/venv/bin/python" -m pytest -q -p no:cacheprovider frameworks/marathon-lite/tests
    "$BUILD_DIR/venv/bin/python" -m pytest -q -p no:cacheprovider frameworks/batch/tests
    java_sdk "clean verify" || { java_report; exit 1; }
    java_report
    go_sdk
    ;;
  java)
    install_packages
    build
    java_sdk package -DskipTests
    echo "The Java SDK's jars are in bindings/java/{sdk,testing,examples}/target"
    ;;
  fuzz)
    install_packages
    fuzz
    ;;
  go)
    install_packages
    build
    go_sdk
    ;;
  build)
    install_packages
    build
    ;;
  format)
    install_packages
    cxx_sources | xargs clang-format -i
    ;;
  python)
    install_packages
    python_sdk
    echo "The corral package is installed in $BUILD_DIR/venv (activate it with: . $BUILD_DIR/venv/bin/activate)"
    ;;
  *)
    echo "usage: scripts/dev.sh local|test|build|python|java|go|fuzz|format" >&2
    exit 2
    ;;
esac
