#!/usr/bin/env bash
# Runs one fuzz target (built by .ci/fuzz-build.sh, stable toolchain) on its seeds.
#
#   scripts/fuzz.sh TARGET [SECONDS] [RUNS]      e.g. scripts/fuzz.sh http_conn 1800 10000000
#
# Stops after SECONDS (default 1800) or RUNS executions (default 10 million), whichever
# comes first. The corpus grows in fuzz/corpus/TARGET (not committed), crashes land in
# fuzz/artifacts/TARGET/; seeds are read from fuzz/seeds/TARGET (committed).
# In-process, one job (-jobs would fork and log to ./fuzz-N.log). Same as `RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET -s none`, without nightly.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:?target}
secs=${2:-1800}
runs=${3:-10000000}
host=$(rustc -vV | sed -n 's/^host: //p')
bin="${CARGO_TARGET_DIR:-fuzz/target}/$host/release/$t"
[ -x "$bin" ] || bash .ci/fuzz-build.sh
mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
dict=()
[ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
exec "$bin" "fuzz/corpus/$t" "fuzz/seeds/$t" "${dict[@]}" \
  -artifact_prefix="fuzz/artifacts/$t/" -max_total_time="$secs" -runs="$runs" \
  -timeout=10 -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1
