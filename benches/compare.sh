#!/usr/bin/env bash
# Times dupcall against tshark and `cat` on the same capture in one hyperfine run, then
# prints throughput and ratios, and peak memory from /usr/bin/time.
#
#   benches/compare.sh [CAPTURE]        # default: generate a 256 MiB capture
#   RUNS=5 SIZE=1G benches/compare.sh
#
# Needs hyperfine, tshark and GNU time (Debian: hyperfine tshark time); builds dupcall in
# release mode. The page cache is warmed by hyperfine's warm-up run, so `cat` is the speed
# of reading memory, the limit to report against.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SIZE=${SIZE:-256M}
cargo build --release --quiet -p dupcall -p dupcall-testkit
DUPCALL=$PWD/target/release/dupcall
GEN=$PWD/target/release/dupcall-gen   # crates/testkit: the capture generator
WORK=${WORK:-/tmp/dupcall-bench}
mkdir -p "$WORK"
FILE=${1:-$WORK/gen-$SIZE.pcap}
if [ ! -f "$FILE" ]; then
  "$GEN" --size "$SIZE" --seed 1 -o "$FILE"
fi
BYTES=$(stat -c %s "$FILE")
echo "capture: $FILE ($BYTES bytes)"
TSHARK="tshark -r $FILE -Y http -T fields -e http.request.method -e http.request.uri -e http.response.code"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$WORK/hyperfine.json" \
  -n cat "cat $FILE > /dev/null" \
  -n "dupcall exchanges" "$DUPCALL exchanges $FILE -o /dev/null -q" \
  -n "dupcall analyze" "$DUPCALL analyze $FILE -o /dev/null -q" \
  -n tshark "$TSHARK > /dev/null 2>&1"

peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
EX_KB=$(peak "$DUPCALL" exchanges "$FILE" -o /dev/null -q)
AN_KB=$(peak "$DUPCALL" analyze "$FILE" -o /dev/null -q)

python3 - "$WORK/hyperfine.json" "$BYTES" "$EX_KB" "$AN_KB" <<'PY'
import json, sys
res = {r["command"]: r["mean"] for r in json.load(open(sys.argv[1]))["results"]}
size, ex_kb, an_kb = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mb = size / 1e6
print(f"\n| command | mean time (s) | MB/s | vs tshark | vs cat |")
print("|---|---|---|---|---|")
for name in ["cat", "dupcall exchanges", "dupcall analyze", "tshark"]:
    t = res[name]
    print(f"| {name} | {t:.3f} | {mb / t:,.0f} | {res['tshark'] / t:,.1f}× | {t / res['cat']:,.1f}× slower |")
print(f"\nanalyze / exchanges: {res['dupcall analyze'] / res['dupcall exchanges']:.2f}×")
print(f"peak RSS: exchanges {ex_kb / 1024:.1f} MiB, analyze {an_kb / 1024:.1f} MiB")
PY
