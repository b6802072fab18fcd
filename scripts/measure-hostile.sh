#!/usr/bin/env bash
# Generates the hostile captures (scripts/gen-hostile.py) into a temporary directory and
# runs `dupcall exchanges` and `dupcall analyze` (release build) on each under
# /usr/bin/time -v: peak RSS, wall time, exit code and the warnings reached.
#
#   scripts/measure-hostile.sh [CASE...]   (CARGO_TARGET_DIR honoured; DIR=... keeps and reuses
#                                          the files; NO_BUILD=1 uses the binary as built)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/dupcall"
dir="${DIR:-$(mktemp -d)}"
# Generate what is missing (a kept DIR is reused).
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(syn-flood content-length-2g endless-chunked many-headers huge-request-line pipelined pipelined-conns stalled-order)
missing=()
for c in "${cases[@]}"; do [ -f "$dir/$c.pcap" ] || missing+=("$c"); done
[ ${#missing[@]} -eq 0 ] || python3 scripts/gen-hostile.py "$dir" "${missing[@]}" >&2
printf '| case | file | command | peak RSS | wall time | exit | warnings |\n|---|---|---|---|---|---|---|\n'
for name in "${cases[@]}"; do
  f="$dir/$name.pcap"
  size=$(du -h "$f" | cut -f1)
  for cmd in exchanges analyze; do
    set +e
    /usr/bin/time -v "$bin" "$cmd" "$f" -o /dev/null 2> "$dir/$name.$cmd.err"
    code=$?
    set -e
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/$name.$cmd.err")
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$dir/$name.$cmd.err")
    warn=$(grep -E '^  (warning |warnings: )' "$dir/$name.$cmd.err" | sed 's/^  //; s/ (-v lists them)//' | tr '\n' ' ')
    printf '| %s | %s | %s | %s MB | %s | %s | %s |\n' "$name" "$size" "$cmd" "$((rss / 1024))" "$wall" "$code" "$warn"
  done
done
[ -n "${DIR:-}" ] || rm -rf "$dir"
