#!/usr/bin/env bash
# Installs the Debian 12 packages Parley needs to build and test. Idempotent: if
# every package is already installed it does nothing (no network access at all).
# Only apt is used; nothing is downloaded from anywhere else.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config git
    libsodium-dev libssl-dev openssl
    libboost1.81-dev libboost-system1.81-dev
    nlohmann-json3-dev libcli11-dev libsqlite3-dev sqlite3
    libspdlog-dev libtomlplusplus-dev libncurses-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    python3 python3-cryptography clang-14 libclang-rt-14-dev tmux
    # the relay's sd_notify; systemd-analyze and dpkg-shlibdeps for `make package` and its test
    libsystemd-dev systemd dpkg-dev
    # the relay's PostgreSQL store, and the server its tests start (issue 14)
    libpq-dev postgresql-15
)

missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "setup: all ${#packages[@]} packages already installed"
    exit 0
fi

echo "setup: installing missing packages: ${missing[*]}"
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
    sudo=(sudo)
fi
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup: done"
