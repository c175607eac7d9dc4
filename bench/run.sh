#!/usr/bin/env bash
# Parley's benchmark, side by side with two reference relays (`make bench`).
#
# Builds the relay, load generator and crypto benchmark (RelWithDebInfo, as the
# release preset, in build/bench so a concurrent `make build` is not disturbed),
# installs the Node.js reference relay's one dependency (npm) and the Debian
# packages the Python references need (apt, only if missing), then runs the
# scenarios of issue 5 for parley-relay, the `ws` relay and the original Python
# relay, and issue 13's: scenario 7 (a relay's real day: 10,000 rooms of 2-12
# members over wss, Poisson arrivals, parley-relay and ws), scenarios 1 and 4 on
# two relay threads (with a perf profile of both cores), scenario 4 on the
# in-memory store. Every relay is started
# fresh for every run, pinned to core 0 (the two-thread runs: cores 0 and 1);
# the load generator runs on core 1. Writes bench/RESULTS.md (bench/report.py)
# and prints its summary.
#
# Environment: DURATION (seconds of sending per run, default 5), RUNS (default 2),
# BENCH_PORT (default 18480), PARLEY_RELAY_THREADS (default 1: the relay has one core),
# BENCH_REV (a commit: build that commit's relay from a `git archive` snapshot
# instead of the working tree, e.g. BENCH_REV=HEAD while others edit the tree),
# S7_ROOMS (scenario 7's rooms, default 10000: ~70,000 connections, which needs
# `ulimit -n` raised, i.e. root with CAP_SYS_RESOURCE; where it cannot be, as
# many rooms run as the hard limit allows, and RESULTS.md says so).
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
# perf (issue 13: where the two-thread runs' time goes)
command -v perf >/dev/null || need_apt+=(linux-perf)
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
relay_help="$("$relay_bin" --help 2>/dev/null || true)"
byte_limit_off=()
grep -q -- --bytes-per-second <<<"$relay_help" && byte_limit_off=(--bytes-per-second 0)
# Scenario 7 holds ~70,000 connections: over the relay's default total cap (10,000).
conn_limit_off=()
grep -q -- --max-connections <<<"$relay_help" && conn_limit_off=(--max-connections 1048576)
# Issue 13's durable-against-memory comparison needs `--store memory` (nothing on disk).
memory_store=0
grep -- '--store' <<<"$relay_help" | grep -q memory && memory_store=1
# No metrics address (a relay already on 127.0.0.1:9464 would stop the run), where the revision has one.
metrics_off=()
grep -q -- --metrics-listen <<<"$relay_help" && metrics_off=(--metrics-listen off)

# What every parley-relay run lifts (start_relay): written down for RESULTS.md's commands.
parley_limits_off=("${conn_limit_off[@]}" --max-connections-per-address 100000 --messages-per-second 0
                   "${byte_limit_off[@]}" "${metrics_off[@]}"
                   --rooms-per-address-per-hour 100000 --rooms-per-founder-per-hour 100000
                   --max-room-bytes $((1 << 40)) --max-total-bytes $((1 << 40)))

rm -rf "$out"
mkdir -p "$out"
echo "$source_desc" >"$out/source.txt"
echo "${parley_limits_off[*]}" >"$out/parley-relay-flags.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -keyout "$out/key.pem" -out "$out/cert.pem" 2>/dev/null

# --- relays -----------------------------------------------------------------------
relay_pid=""
# How the next relay runs: its cores, parley-relay's threads and store. The
# comparisons of issue 13 change them for a few runs (run_threads2, run_memory below).
relay_cores=0
parley_threads=$relay_threads
parley_store=sqlite
# start_relay KIND TLS(0|1): starts it on $relay_cores (core 0), waits until it listens.
start_relay() {
    local kind=$1 tls=$2 tls_args=() store_args=()
    case $kind in
        parley)
            ((tls)) && tls_args=(--cert "$out/cert.pem" --key "$out/key.pem")
            # A fresh durable store each run (scenario 6: storage is always on),
            # or (issue 13's comparison) the in-memory store, nothing on disk.
            # The load generator is one host opening thousands of connections and
            # sending as fast as it can, into a thousand rooms it creates: lift the
            # connection caps, the rate limit and the room and storage quotas.
            rm -rf "$out/parley-data"
            store_args=(--data "$out/parley-data")
            [[ $parley_store == memory ]] && store_args=(--store memory)
            taskset -c "$relay_cores" "$relay_bin" --listen "127.0.0.1:$port" --threads "$parley_threads" "${tls_args[@]}" \
                "${store_args[@]}" "${parley_limits_off[@]}" 2>>"$out/relay-parley.log" &
            ;;
        ws)
            ((tls)) && tls_args=("$out/cert.pem" "$out/key.pem")
            taskset -c "$relay_cores" node bench/reference/ws-relay.js "$port" "${tls_args[@]}" 2>>"$out/relay-ws.log" &
            ;;
        python)
            ((tls)) && tls_args=("$out/cert.pem" "$out/key.pem")
            taskset -c "$relay_cores" "$python" bench/reference/python_relay.py "$port" "${tls_args[@]}" 2>>"$out/relay-python.log" &
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
    local line profiler=""
    [[ -n "$profile" ]] && profiler=$(start_profile "$profile")
    if line=$(taskset -c 1 "$loadgen" --url "$scheme://127.0.0.1:$port" --relay-pid "$relay_pid" \
                  --label "$scenario/$kind" "${proto[@]}" "$@" 2>>"$out/loadgen.log"); then
        echo "{\"scenario\": \"$scenario\", \"relay\": \"$kind\", \"args\": \"$*\", \"result\": $line}" >>"$out/runs.jsonl"
        tail -n 1 "$out/loadgen.log" >&2
    else
        echo "{\"scenario\": \"$scenario\", \"relay\": \"$kind\", \"args\": \"$*\", \"result\": null}" >>"$out/runs.jsonl"
        log "$scenario/$kind failed (see $out/loadgen.log)"
    fi
    [[ -n "$profiler" ]] && finish_profile "$profiler" "$profile"
    stop_relay
}

# Issue 13: where the time goes. With profile=NAME set, run_case samples both
# cores (perf record -a, every process, the kernel too) over the load
# generator's timed part: from its "set up" line for DURATION seconds. The
# report is by process and library ($out/perf-NAME.txt, for report.py).
profile=""
perf_ok=0
perf_probe="$(mktemp)"
perf record -q -a -o "$perf_probe" -- true >/dev/null 2>&1 && perf_ok=1
rm -f "$perf_probe"
if ((perf_ok)); then
    echo "ran: perf record -a -F 999 over the timed part of the last run" >"$out/perf.txt"
else
    echo "skipped: perf cannot sample the whole machine here (not installed, or perf_event_paranoid)" >"$out/perf.txt"
fi
start_profile() {
    ((perf_ok)) || return 0
    local name=$1 before
    before=$(grep -c ': set up ' "$out/loadgen.log" 2>/dev/null || true)
    (
        for _ in $(seq 1200); do
            (($(grep -c ': set up ' "$out/loadgen.log" 2>/dev/null || true) > ${before:-0})) && break
            sleep 0.05
        done
        perf record -q -a -F 999 -o "$out/perf-$name.data" -- sleep "$duration"
    ) >/dev/null 2>&1 &  # not on this function's stdout: $(start_profile) would wait for it
    echo $!
}
finish_profile() {
    # Not this shell's child (start_profile ran in $(...)): wait for it to end.
    while kill -0 "$1" 2>/dev/null; do sleep 0.1; done
    [[ -s "$out/perf-$2.data" ]] || return 0
    perf report -i "$out/perf-$2.data" --stdio --sort comm,dso --percent-limit 0.5 >"$out/perf-$2.txt" 2>/dev/null || true
}

# --- scenarios (issue 5) ----------------------------------------------------------
# Python's relay is far slower: it runs every scenario, but where it cannot keep
# up its figures are what an overloaded relay gives, and its heaviest runs are
# capped (noted in RESULTS.md).
s1=(--rooms 1 --members 100 --senders 10 --bytes 256 --rate 0 --window 32 --duration "$duration")
s2=(--rooms 1 --members 100 --senders 10 --bytes 256 --rate 1000 --duration "$duration")
s3=(--rooms 1 --members 1000 --senders 10 --bytes 256 --rate 100 --duration "$duration")
s4=(--rooms 1000 --members 5 --senders 1 --bytes 256 --rate 0 --window 4 --duration "$duration")

# Scenario 7 (issue 13), a relay's real day: 10,000 rooms of 2-12 members each
# (sizes drawn per room from SplitMix64 seeded 13: the same rooms everywhere,
# ~70,000 connections), one Poisson process of 2,000 messages/s over all of them,
# each from a member drawn uniformly, over TLS, durable (parley-relay's default
# store). Clients come from 16 loopback addresses (one has ~28,000 ephemeral
# ports) with 4 KiB read buffers (the load generator's memory).
s7_rooms="${S7_ROOMS:-10000}"
s7_sizes=(--room-sizes 2-12 --seed 13)
s7=(--rooms "$s7_rooms" "${s7_sizes[@]}" --arrivals poisson --rate 2000 --bytes 256 --duration "$duration"
    --source-addresses 16 --read-buffer 4096)

# run_floor SCENARIO FLOOR-ARGS...: the fan-out with no relay, one send() per recipient
# (bench/fanout_floor.cpp), with the latency scenario's shape and cores.
run_floor() {
    local scenario=$1 line; shift
    [[ -n "$floor" ]] || return 0
    if line=$("$floor" "$@" --duration "$duration" --bytes 256 \
                  --relay-core 0 --client-core 1 2>>"$out/floor.log"); then
        echo "{\"scenario\": \"$scenario\", \"relay\": \"floor\", \"args\": \"$*\", \"result\": $line}" >>"$out/runs.jsonl"
        tail -n 1 "$out/floor.log" >&2
    else
        log "$scenario/floor failed (see $out/floor.log)"
    fi
}

# Scenario 7 needs a descriptor per connection in the relay and in the load
# generator: ~70,000, over this machine's usual limit. Raise it in a subshell
# for those two only (root with CAP_SYS_RESOURCE: `ulimit -n`); where it cannot
# be raised, scenario 7 runs with as many rooms as the hard limit allows, and
# RESULTS.md says it was scaled down and why.
s7_fds() { echo $(($1 * 12 + 1024)); }  # every room at its largest, and the relay's own
s7_ulimit=""
hard="$(ulimit -Hn)"
if (ulimit -n 262144) 2>/dev/null; then
    s7_ulimit=262144
elif [[ "$hard" == unlimited ]] || ((hard >= $(s7_fds "$s7_rooms"))); then
    s7_ulimit="$hard"
elif ((hard > 2048)); then
    wanted=$s7_rooms
    s7_rooms=$(((hard - 1024) / 12))
    s7[1]=$s7_rooms
    s7_ulimit="$hard"
    echo "scaled down: $wanted rooms need up to $(s7_fds "$wanted") open files in the relay and in the load \
generator; \`ulimit -n 262144\` failed (not root, or no CAP_SYS_RESOURCE) and the hard limit is $hard, so \
$s7_rooms rooms ran" >"$out/scenario7.txt"
    log "scenario 7 $(cat "$out/scenario7.txt")"
fi
if [[ -z "$s7_ulimit" ]]; then
    echo "skipped: the open files hard limit ($hard) is too low for scenario 7" >"$out/scenario7.txt"
    log "scenario 7 $(cat "$out/scenario7.txt")"
elif [[ ! -e "$out/scenario7.txt" ]]; then
    echo "ran: $s7_rooms rooms, open files limit $s7_ulimit" >"$out/scenario7.txt"
fi
run_s7() {
    [[ -n "$s7_ulimit" ]] || return 0
    (
        ulimit -n "$s7_ulimit"
        run_case "7-real-day" "$1" 1 "${s7[@]}"
    )
}

# Issue 13's comparisons, parley-relay only: scenarios 1 and 4 on two io threads
# (relay on cores 0 and 1, so it shares core 1 with the load generator; a 10 s
# drain, as the starved load generator reads the last deliveries late), and
# scenario 4 on the in-memory store.
# The last run of each is profiled.
run_threads2() {
    relay_cores=0,1 parley_threads=2
    ((i == runs)) && profile=threads2-s1
    run_case "1-throughput-threads2" parley 0 "${s1[@]}" --drain 10
    ((i == runs)) && profile=threads2-s4
    run_case "4-rooms-1000x5-threads2" parley 0 "${s4[@]}" --drain 10
    profile=""
    relay_cores=0 parley_threads=$relay_threads
}
if ((memory_store)); then
    echo "ran: parley-relay --store memory" >"$out/memory_store.txt"
else
    echo "skipped: this parley-relay has no \`--store memory\` (its --help does not show it)" >"$out/memory_store.txt"
fi
run_memory() {
    ((memory_store)) || return 0
    parley_store=memory
    run_case "4-rooms-1000x5-memory" parley 0 "${s4[@]}"
    parley_store=sqlite
}

for i in $(seq "$runs"); do
    log "run $i: the bare fan-out"
    run_floor "2-latency-100" --members 100 --rate 1000
    run_floor "3-latency-1000" --members 1000 --rate 100
    run_floor "7-real-day" "${s7_sizes[@]}" --arrivals poisson --rate 2000
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
    log "run $i: parley-relay on two threads, and on the in-memory store"
    run_threads2
    run_memory
    # Scenario 7: parley-relay and ws. Not the Python relay: ~70,000 TLS
    # connections at its ~300 KB each (scenario 5) would take ~21 GB.
    for kind in parley ws; do
        log "run $i: scenario 7, $kind"
        run_s7 "$kind"
    done
done

# Scenario 6 is every Parley run above but the in-memory comparison's: each
# commits every message to relay.sqlite (WAL) before the Ack.
echo "every parley-relay run but the --store memory comparison stores durably (--data, WAL, committed before the Ack)" >"$out/scenario6.txt"

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
