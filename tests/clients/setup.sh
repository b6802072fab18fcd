#!/usr/bin/env bash
# Installs what re-recording the client fixtures needs (tests/clients/record.py and the
# ignored `clients::record_live` test): the client libraries under evaluation, pinned, into
# folders of the checkout, and the Debian packages for the Node and Java drivers. CI does
# not run this: the committed recordings are what `cargo test` scores.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)  # tests/clients/: client libraries (record.py)
command -v npm >/dev/null 2>&1 || need+=(npm)            # tests/clients/: Node got (record.py)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)  # tests/clients/: Apache HttpClient driver
[ -f /usr/share/java/httpclient.jar ] || need+=(libhttpclient-java)  # tests/clients/java/DriveHttpClient.java
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

[ -f tests/clients/.py/aiohttp_retry/__init__.py ] ||
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target tests/clients/.py \
    requests==2.34.2 tenacity==9.2.1 aiohttp==3.14.5 aiohttp-retry==2.9.1
[ -d tests/clients/node/node_modules/got ] || npm ci --silent --prefix tests/clients/node
