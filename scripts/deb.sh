#!/usr/bin/env bash
# Builds the Debian package with cargo-deb: the binary, its manual pages (dupcall.1 and one
# page per subcommand, gzipped), bash/zsh/fish completions, README, CHANGELOG and licenses
# (the file list is [package.metadata.deb] in Cargo.toml; docs/packaging.md).
#
#   bash scripts/deb.sh            release build (the profile that ships), then the .deb
#   bash scripts/deb.sh --dev      package the debug build instead (checks the packaging in
#                                  seconds, without the LTO build of everything)
#   DUPCALL_BIN=target/debug/dupcall bash scripts/deb.sh
#                                  package that binary as it is, building nothing (.ci/run,
#                                  after `cargo test --no-run`: the binary the tests run)
#
# The man pages and completions are written by the packaged binary itself, so they always
# match its flags. cargo-deb is taken from .ci/cargo/bin (where .ci/run installs it), else
# from PATH. Env: DEB_OUT (folder for the .deb, default target/debian), DUPCALL_BIN (see
# above; packaged with the dev profile's settings).
# Prints the path of the .deb on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
[ "${1:-}" = "--dev" ] && profile=dev

cargo_deb=.ci/cargo/bin/cargo-deb
[ -x "$cargo_deb" ] || cargo_deb="$(command -v cargo-deb || true)"
if [ -z "$cargo_deb" ]; then
    echo "scripts/deb.sh: cargo-deb not found (.ci/run installs it: cargo install cargo-deb --locked --root .ci/cargo)" >&2
    exit 1
fi

if [ -n "${DUPCALL_BIN:-}" ]; then
    profile=dev
    bin="$DUPCALL_BIN"
elif [ "$profile" = release ]; then
    cargo build --release --locked -p dupcall --bin dupcall >&2
    bin=target/release/dupcall
else
    cargo build --locked -p dupcall --bin dupcall >&2
    bin=target/debug/dupcall
fi

assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$bin" man --dir "$assets/man"
gzip -9n "$assets"/man/*.1
"$bin" completions bash >"$assets/completions/dupcall.bash"
"$bin" completions zsh >"$assets/completions/_dupcall"
"$bin" completions fish >"$assets/completions/dupcall.fish"

out="${DEB_OUT:-target/debian}"
mkdir -p "$out"
# --no-build: built above. With the dev profile cargo-deb takes target/debug/dupcall for the
# asset target/release/dupcall; DUPCALL_BIN is copied there first if it is elsewhere.
if [ -n "${DUPCALL_BIN:-}" ] && [ "$(realpath "$DUPCALL_BIN")" != "$(realpath -m target/debug/dupcall)" ]; then
    mkdir -p target/debug
    cp "$DUPCALL_BIN" target/debug/dupcall
fi
# A dev package is a check, not a release: faster xz (7 s instead of 20 s for its binary).
fast=()
[ "$profile" = dev ] && fast=(--fast)
"$cargo_deb" --no-build --profile "$profile" --quiet --output "$out" --deb-revision 1 "${fast[@]}"
