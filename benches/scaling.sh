#!/usr/bin/env bash
# The figures of docs/benchmarks.md that compare.sh does not give:
#   1. peak memory on a 1 GB and a 10 GB capture (flat in the input size?);
#   2. one core against two (taskset), on one large capture and on two captures;
#   3. access-log throughput in lines per second, on one core and on two.
#
#   benches/scaling.sh              # needs ~12 GB free in $WORK (default /tmp/dupcall-bench)
#   SKIP_10G=1 benches/scaling.sh   # without the 10 GB file
#
# Needs hyperfine, GNU time, taskset (util-linux) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p dupcall -p dupcall-testkit
DUPCALL=$PWD/target/release/dupcall
GEN=$PWD/target/release/dupcall-gen   # crates/testkit: the capture generator
WORK=${WORK:-/tmp/dupcall-bench}
mkdir -p "$WORK"
gen() { [ -f "$WORK/$1" ] || "$GEN" --size "$2" --seed "$3" -o "$WORK/$1" >/dev/null 2>&1; }
peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

echo "## Peak memory (KiB) against input size"
gen gen-1G.pcap 1G 1
sizes="1G"
if [ -z "${SKIP_10G:-}" ]; then gen gen-10G.pcap 10G 1; sizes="1G 10G"; fi
echo "| file | exchanges | analyze |"
echo "|---|---|---|"
for s in $sizes; do
  f="$WORK/gen-$s.pcap"
  echo "| $s | $(peak "$DUPCALL" exchanges "$f" -o /dev/null -q) | $(peak "$DUPCALL" analyze "$f" -o /dev/null -q) |"
done
rm -f "$WORK/gen-10G.pcap"

echo; echo "## One core against two"
gen gen-512M-a.pcap 512M 2
gen gen-512M-b.pcap 512M 3
ONE="$WORK/gen-1G.pcap"
TWO="$WORK/gen-512M-a.pcap $WORK/gen-512M-b.pcap"
cat $ONE $TWO >/dev/null
hyperfine -N --style basic --warmup 1 --runs 3 --export-json "$WORK/cores.json" \
  -n "exchanges, 1 file, 1 core" "taskset -c 0 $DUPCALL exchanges $ONE -o /dev/null -q" \
  -n "exchanges, 1 file, 2 cores" "$DUPCALL exchanges $ONE -o /dev/null -q" \
  -n "analyze, 1 file, 1 core" "taskset -c 0 $DUPCALL analyze $ONE -o /dev/null -q" \
  -n "analyze, 1 file, 2 cores" "$DUPCALL analyze $ONE -o /dev/null -q" \
  -n "exchanges, 2 files, 1 core" "taskset -c 0 $DUPCALL exchanges $TWO -o /dev/null -q" \
  -n "exchanges, 2 files, 2 cores" "$DUPCALL exchanges $TWO -o /dev/null -q" \
  -n "analyze, 2 files, 1 core" "taskset -c 0 $DUPCALL analyze $TWO -o /dev/null -q" \
  -n "analyze, 2 files, 2 cores" "$DUPCALL analyze $TWO -o /dev/null -q" >/dev/null

echo; echo "## Access log"
LOG="$WORK/access-2M-combined.log"
[ -f "$LOG" ] || python3 scripts/gen-access-log.py --lines 2000000 --format combined >"$LOG"
cat "$LOG" >/dev/null
hyperfine -N --style basic --warmup 1 --runs 3 --export-json "$WORK/logs.json" \
  -n "exchanges, 1 core" "taskset -c 0 $DUPCALL exchanges $LOG -o /dev/null -q" \
  -n "exchanges, 2 cores" "$DUPCALL exchanges $LOG -o /dev/null -q" \
  -n "analyze, 1 core" "taskset -c 0 $DUPCALL analyze $LOG -o /dev/null -q" \
  -n "analyze, 2 cores" "$DUPCALL analyze $LOG -o /dev/null -q" >/dev/null
echo "peak RSS (KiB): exchanges $(peak "$DUPCALL" exchanges "$LOG" -o /dev/null -q), analyze $(peak "$DUPCALL" analyze "$LOG" -o /dev/null -q)"

python3 - "$WORK/cores.json" "$WORK/logs.json" "$(wc -l <"$LOG")" <<'PY'
import json, sys
cores = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
print("\n| run | 1 core (s) | 2 cores (s) | speed-up |")
print("|---|---|---|---|")
for what in ["exchanges, 1 file", "analyze, 1 file", "exchanges, 2 files", "analyze, 2 files"]:
    one, two = cores[f"{what}, 1 core"]["mean"], cores[f"{what}, 2 cores"]["mean"]
    print(f"| {what} | {one:.2f} | {two:.2f} | {one / two:.2f}× |")
logs = {r["command"]: r for r in json.load(open(sys.argv[2]))["results"]}
lines = int(sys.argv[3])
print("\n| log run | time (s) | lines/s | lines/s per core used |")
print("|---|---|---|---|")
for name, r in logs.items():
    t = r["mean"]
    cpu = r["user"] + r["system"]
    print(f"| {name} | {t:.2f} | {lines / t:,.0f} | {lines / cpu:,.0f} |")
PY
