#!/usr/bin/env bash
# Usage: make-test-cert.sh DIR
# Writes DIR/cert.pem and DIR/key.pem: a self-signed Ed25519 certificate for
# localhost / 127.0.0.1, valid for one day. For tests only.
set -euo pipefail
if [[ $# -ne 1 ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir="$1"
mkdir -p "$dir"
openssl req -x509 -newkey ed25519 -nodes \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 1 \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
chmod 600 "$dir/key.pem"
echo "$dir/cert.pem"
