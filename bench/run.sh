#!/usr/bin/env bash
# Parley's benchmark, side by side with two reference relays (`make bench`).
#
# Builds the relay, load generator and crypto benchmark (RelWithDebInfo, as the
# release preset, in build/bench so a concurrent `make build` is not disturbed),
# installs the Node.js reference relay's one dependency (npm) and the Debian
# packages the Python references need (apt, only if missing), then runs the
# scenarios of issue 5 for parley-relay, the `ws` relay and the original Python
# relay. Every relay is started fresh for every run, pinned to core 0; the load
# generator runs on core 1. Writes bench/RESULTS.md (bench/report.py) and prints
# its summary.
#
# Environment: DURATION (seconds of sending per run, default 5), RUNS (default 2),
# BENCH_PORT (default 18480), PARLEY_RELAY_THREADS (default 1: the relay has one core),
# BENCH_REV (a commit: build that commit's relay from a `git archive` snapshot
# instead of the working tree, e.g. BENCH_REV=HEAD while others edit the tree).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build="$root/build/bench"
out="$build/results"
duration="${DURATION:-5}"
runs="${RUNS:-2}"
port="${BENCH_PORT:-18480}"
relay_threads="${PARLEY_RELAY_THREADS:-1}"
python=/usr/bin/python3  # Debian's, with python3-websockets and python3-pycryptodome

log() { echo "bench: $*" >&2; }

# --- set-up ---------------------------------------------------------------------
need_apt=()
"$python" -c 'import websockets' 2>/dev/null || need_apt+=(python3-websockets)
"$python" -c 'import Cryptodome' 2>/dev/null || "$python" -c 'import Crypto' 2>/dev/null || need_apt+=(python3-pycryptodome)
if ((${#need_apt[@]})); then
    log "installing ${need_apt[*]} (apt)"
    sudo=(); [[ "$(id -u)" -ne 0 ]] && sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
(cd bench/reference && npm ci --no-audit --no-fund --loglevel=error)

src="$root" cmake_dir="$build/worktree"
source_desc="working tree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lib apps bench || echo ' with uncommitted changes')"
if [[ -n "${BENCH_REV:-}" ]]; then
    rev="$(git rev-parse --short "$BENCH_REV")"
    src="$build/rev-src" cmake_dir="$build/rev"
    source_desc="commit $rev (git archive snapshot)"
    rm -rf "$src" && mkdir -p "$src"
    git archive "$rev" | tar -x -C "$src"
fi
log "building $source_desc in $cmake_dir"
cmake -S "$src" -B "$cmake_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_TESTS=OFF -DPARLEY_BENCH=ON >/dev/null
cmake --build "$cmake_dir" --target parley-relay parley-loadgen parley-crypto-bench parley-client-store-bench
# The bare fan-out, and the byte limit's flag, are newer than some revisions BENCH_REV may name.
cmake --build "$cmake_dir" --target parley-fanout-floor || log "no parley-fanout-floor at this revision: skipped"
relay_bin="$cmake_dir/parley-relay"
loadgen="$cmake_dir/bench/parley-loadgen"
floor="$cmake_dir/bench/parley-fanout-floor"
[[ -x "$floor" ]] || floor=""
byte_limit_off=()
"$relay_bin" --help 2>/dev/null | grep -q -- --bytes-per-second && byte_limit_off=(--bytes-per-second 0)
# No metrics address (a relay already on 127.0.0.1:9464 would stop the run), where the revision has one.
metrics_off=()
"$relay_bin" --help 2>/dev/null | grep -q -- --metrics-listen && metrics_off=(--metrics-listen off)

rm -rf "$out"
mkdir -p "$out"
echo "$source_desc" >"$out/source.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -keyout "$out/key.pem" -out "$out/cert.pem" 2>/dev/null

# --- relays -----------------------------------------------------------------------
relay_pid=""
# start_relay KIND TLS(0|1): starts it on core 0, waits until it listens.
start_relay() {
    local kind=$1 tls=$2 tls_args=()
    case $kind in
        parley)
            ((tls)) && tls_args=(--cert "$out/cert.pem" --key "$out/key.pem")
            # A fresh durable store each run (scenario 6: storage is always on).
            # The load generator is one host opening thousands of connections and
            # sending as fast as it can, into a thousand rooms it creates: lift the
            # per-address cap, the rate limit and the room and storage quotas.
            rm -rf "$out/parley-data"
            taskset -c 0 "$relay_bin" --listen "127.0.0.1:$port" --threads "$relay_threads" "${tls_args[@]}" \
                --data "$out/parley-data" --max-connections-per-address 100000 --messages-per-second 0 "${byte_limit_off[@]}" "${metrics_off[@]}" \
                --rooms-per-address-per-hour 100000 --rooms-per-founder-per-hour 100000 \
                --max-room-bytes $((1 << 40)) --max-total-bytes $((1 << 40)) \
                2>>"$out/relay-parley.log" &
            ;;
        ws)
            ((tls)) && tls_args=("$out/cert.pem" "$out/key.pem")
            taskset -c 0 node bench/reference/ws-relay.js "$port" "${tls_args[@]}" 2>>"$out/relay-ws.log" &
            ;;
        python)
            ((tls)) && tls_args=("$out/cert.pem" "$out/key.pem")
            taskset -c 0 "$python" bench/reference/python_relay.py "$port" "${tls_args[@]}" 2>>"$out/relay-python.log" &
            ;;
    esac
    relay_pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    log "$kind relay did not start"; return 1
}
stop_relay() {
    kill "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
}

# run_case SCENARIO KIND TLS LOADGEN-ARGS...: one fresh relay, one load generator run.
run_case() {
    local scenario=$1 kind=$2 tls=$3; shift 3
    local scheme=ws proto=(--protocol parley)
    ((tls)) && scheme=wss
    [[ $kind == ws ]] && proto=(--protocol broadcast --payload binary)
    [[ $kind == python ]] && proto=(--protocol broadcast --payload json)
    start_relay "$kind" "$tls"
    local line
    if line=$(taskset -c 1 "$loadgen" --url "$scheme://127.0.0.1:$port" --relay-pid "$relay_pid" \
                  --label "$scenario/$kind" "${proto[@]}" "$@" 2>>"$out/loadgen.log"); then
        echo "{\"scenario\": \"$scenario\", \"relay\": \"$kind\", \"args\": \"$*\", \"result\": $line}" >>"$out/runs.jsonl"
        tail -n 1 "$out/loadgen.log" >&2
    else
        echo "{\"scenario\": \"$scenario\", \"relay\": \"$kind\", \"args\": \"$*\", \"result\": null}" >>"$out/runs.jsonl"
        log "$scenario/$kind failed (see $out/loadgen.log)"
    fi
    stop_relay
}

# --- scenarios (issue 5) ----------------------------------------------------------
# Python's relay is far slower: it runs every scenario, but where it cannot keep
# up its figures are what an overloaded relay gives, and its heaviest runs are
# capped (noted in RESULTS.md).
s1=(--rooms 1 --members 100 --senders 10 --bytes 256 --rate 0 --window 32 --duration "$duration")
s2=(--rooms 1 --members 100 --senders 10 --bytes 256 --rate 1000 --duration "$duration")
s3=(--rooms 1 --members 1000 --senders 10 --bytes 256 --rate 100 --duration "$duration")
s4=(--rooms 1000 --members 5 --senders 1 --bytes 256 --rate 0 --window 4 --duration "$duration")

# run_floor SCENARIO MEMBERS RATE: the fan-out with no relay, one send() per recipient
# (bench/fanout_floor.cpp), with the latency scenario's shape and cores.
run_floor() {
    local scenario=$1 members=$2 rate=$3 line
    [[ -n "$floor" ]] || return 0
    if line=$("$floor" --members "$members" --rate "$rate" --duration "$duration" --bytes 256 \
                  --relay-core 0 --client-core 1 2>>"$out/floor.log"); then
        echo "{\"scenario\": \"$scenario\", \"relay\": \"floor\", \"args\": \"--members $members --rate $rate\", \"result\": $line}" >>"$out/runs.jsonl"
        tail -n 1 "$out/floor.log" >&2
    else
        log "$scenario/floor failed (see $out/floor.log)"
    fi
}

for i in $(seq "$runs"); do
    log "run $i: the bare fan-out"
    run_floor "2-latency-100" 100 1000
    run_floor "3-latency-1000" 1000 100
    for kind in parley ws python; do
        log "run $i: $kind"
        run_case "1-throughput" "$kind" 0 "${s1[@]}"
        run_case "2-latency-100" "$kind" 0 "${s2[@]}"
        run_case "3-latency-1000" "$kind" 0 "${s3[@]}"
        run_case "4-rooms-1000x5" "$kind" 0 "${s4[@]}"
        for n in 1000 5000; do
            for tls in 0 1; do
                t=plain; ((tls)) && t=tls
                run_case "5-idle-$n-$t" "$kind" "$tls" --idle --rooms $((n / 100)) --members 100
            done
        done
    done
done

# Scenario 6 is every Parley run above: parley-relay has no storage-off mode,
# each of its runs commits every message to relay.sqlite (WAL) before the Ack.
echo "every parley-relay run stores durably (--data, WAL, committed before the Ack)" >"$out/scenario6.txt"

# --- client-side crypto ----------------------------------------------------------------
log "crypto benchmark"
taskset -c 1 "$cmake_dir/bench/parley-crypto-bench" --benchmark_min_time=0.5 --benchmark_repetitions=2 \
    --benchmark_report_aggregates_only=false --benchmark_format=json --benchmark_out="$out/crypto.json" \
    --benchmark_out_format=json >/dev/null
taskset -c 1 "$python" bench/reference/python_client_bench.py 2 >"$out/python_client.json"
log "client store benchmark"
taskset -c 1 "$cmake_dir/bench/parley-client-store-bench" --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=false --benchmark_format=json --benchmark_out="$out/client_store.json" \
    --benchmark_out_format=json >/dev/null

"$python" bench/report.py "$out" "$duration" "$runs" "$relay_threads" >bench/RESULTS.md
log "wrote bench/RESULTS.md"
sed -n '/^## Summary/,/^## Every run/p' bench/RESULTS.md | head -n -1
