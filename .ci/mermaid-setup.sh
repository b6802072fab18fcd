#!/usr/bin/env bash
# Installs what tests/mermaid_render.rs needs to render the Markdown report's Mermaid
# diagrams with the real Mermaid library: Debian's chromium (apt) and
# @mermaid-js/mermaid-cli (npm, into .ci/node/, which is git-ignored). Puppeteer's own
# browser download is skipped (it cannot be fetched here); mmdc drives /usr/bin/chromium
# through .ci/node/puppeteer.json. Idempotent and quiet: a second run does nothing.
#
# Afterwards: .ci/node/node_modules/.bin/mmdc (the test finds it there, or via $MMDC).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$here/node"
mmdc="$node_dir/node_modules/.bin/mmdc"
# Pinned so CI renders with the same Mermaid every time; bump deliberately.
mermaid_cli_version="${MERMAID_CLI_VERSION:-11.17.0}"

if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

mkdir -p "$node_dir"
if [ ! -x "$mmdc" ] || ! grep -q "\"version\": \"$mermaid_cli_version\"" \
    "$node_dir/node_modules/@mermaid-js/mermaid-cli/package.json" 2>/dev/null; then
    [ -f "$node_dir/package.json" ] || printf '{"name":"dupcall-ci-mermaid","private":true}\n' >"$node_dir/package.json"
    PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 \
        npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error --silent \
        "@mermaid-js/mermaid-cli@$mermaid_cli_version" >/dev/null
fi

cat >"$node_dir/puppeteer.json" <<'JSON'
{"executablePath":"/usr/bin/chromium","args":["--no-sandbox","--disable-gpu","--disable-background-networking","--disable-component-update","--disable-sync","--no-first-run"]}
JSON

"$mmdc" --version >/dev/null
