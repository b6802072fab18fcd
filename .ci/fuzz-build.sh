#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, a crate of its own) on the STABLE toolchain, so CI checks
# that they compile. Same instrumentation as `cargo fuzz build -s none` (libFuzzer's
# SanitizerCoverage: inline 8-bit counters, PC table, compare tracing, stack depth), but
# with stable flags only: `-C passes=sancov-module` and `-C llvm-args=...` are stable
# codegen options; only cargo-fuzz's sanitizer flags (-Zsanitizer) need nightly, and Rust
# code without `unsafe` gains little from ASan. `--target` keeps RUSTFLAGS off build
# scripts and proc macros, as cargo-fuzz does.
#
#   bash .ci/fuzz-build.sh            # build all targets (release, debug assertions on)
#   bash .ci/fuzz-build.sh --check    # type-check only (fast; what CI needs)
#
# Run a target afterwards with scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="${RUSTFLAGS:-} -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cllvm-args=-sanitizer-coverage-stack-depth \
 --cfg fuzzing -Cdebug-assertions -Coverflow-checks"

if [ "${1:-}" = "--check" ]; then
  cargo check --release --target "$host" --bins
else
  cargo build --release --target "$host" --bins
fi
