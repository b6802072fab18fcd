#!/usr/bin/env bash
# Writes samples/logs/NAME.expected.csv for every access-log sample: the report dupcall gives
# today, which tests/log_samples.rs then requires byte for byte. Run from anywhere after
# re-recording the logs (cargo test --test nginx_logs -- --ignored record_log_samples), or
# after a deliberate change of the labels; review the diff before committing.
# DUPCALL=path/to/dupcall uses that binary instead of `cargo run`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DUPCALL:-}" ]; then dupcall=("$DUPCALL"); else dupcall=(cargo run --quiet --bin dupcall --); fi

rich="$(cat samples/logs/nginx-rich.conf)"
tomcat='tomcat9:%h %l %u %t "%r" %s %b %D'

run() { # NAME [dupcall options]
  local name=$1; shift
  "${dupcall[@]}" analyze "samples/logs/$name.log" --fingerprint-key sample -q "$@" \
    -o "samples/logs/$name.expected.csv"
  echo "wrote samples/logs/$name.expected.csv"
}

run nginx-combined-v5-510-auth-off
run nginx-combined-v5-expired-token
run nginx-rich-v5-510-auth-off --log-format "$rich"
run nginx-rich-v5-timeout-failover --log-format "$rich"
run nginx-json-v5-two-apps
run tomcat-v5-510-auth-off --log-format "$tomcat"
