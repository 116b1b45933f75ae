#!/usr/bin/env bash
# Install what building and testing Live Stars needs on a fresh Debian machine: the C libraries
# diesel links (SQLite, libpq), PostgreSQL for the test suite, Python for schemathesis, tmux for the console's
# end-to-end tests (socat and openssl for its HTTPS test), the Go `age` CLI that checks the ID
# envelope from outside, Debian's chromium and chromium-driver, and firefox-esr with Mozilla's
# geckodriver (built from crates.io), for the web pages' browser tests.
# Idempotent: installs only what is missing. Needs root (or sudo) only when something is missing.
set -euo pipefail

need=()
for pkg in pkg-config libsqlite3-dev libpq-dev postgresql postgresql-client curl python3 python3-venv tmux socat openssl ca-certificates age chromium chromium-driver firefox-esr; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# docker-compose (v1, from Debian) validates docker-compose.yml in the tests (`config` needs no
# Docker engine). Optional: where the package is missing the check runs without it.
if ! command -v docker-compose >/dev/null 2>&1 && apt-cache show docker-compose >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends docker-compose \
    || echo "setup: docker-compose not installed; the compose check runs without it"
fi

# Node.js and npm run the local EVM node (hardhat) for the settlement tests.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs and npm"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install a Rust toolchain (https://rustup.rs) first" >&2
  exit 1
fi

# geckodriver (Firefox's WebDriver server) is not packaged by Debian; Mozilla publishes it on
# crates.io. Pinned; built once into cargo's bin directory.
gecko_version=0.37.1
gecko="$(command -v geckodriver || echo "${CARGO_HOME:-$HOME/.cargo}/bin/geckodriver")"
gecko_have=$("$gecko" --version 2>/dev/null || true)
if [[ "$gecko_have" != "geckodriver $gecko_version"* ]]; then
  echo "setup: building geckodriver $gecko_version from crates.io"
  cargo install --quiet --locked geckodriver --version "$gecko_version"
fi
