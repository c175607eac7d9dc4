#!/usr/bin/env bash
# Issue 14: parley-relay on PostgreSQL with one, two and three nodes, against
# the SQLite relay in the same run (`make bench-cluster`).
#
# Builds the relay and the load generator as bench/run.sh does (RelWithDebInfo,
# build/bench/worktree), starts a PostgreSQL 15 server of its own in a
# temporary folder (as nobody under root; a Unix socket only; the server's
# defaults for durability: fsync and synchronous_commit on, so an Ack means
# the message is on disk), and runs two scenarios of bench/run.sh against:
#   sqlite   one parley-relay, --data (the default store)
#   pg1      one parley-relay, --store postgresql://
#   pg2/pg3  two and three relays on one database, the load generator's
#            clients spread over them (client c to node c % N), so every room
#            has members on every node and most deliveries cross nodes
# Everything on the server side (every relay and the database) is pinned to
# core 0, the load generator to core 1: the machine has two cores, so this
# measures what nodes cost, not how they scale (docs/SCALING.md turns the
# costs into a capacity model).
#
# Per run it records the load generator's figures (deliveries/s, p50/p99, the
# relays' CPU), the database's commits and CPU over the timed part (from the
# load generator's "set up" line to its end): its CPU and its WAL flushes to
# disk (what durable commits cost; PostgreSQL flushes the commits waiting at
# that moment together; pg_stat_database's transaction counts are kept in the
# raw runs but not reported: backends publish them lazily, and two runs of the
# same case differed fortyfold), and the bytes stored per message. Writes bench/CLUSTER-RESULTS.md (bench/cluster_report.py).
#
# Environment: DURATION (seconds of sending per run, default 5), RUNS
# (default 2), BENCH_PORT (first port, default 18580).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build="$root/build/bench"
cmake_dir="$build/worktree"
out="$build/cluster"
duration="${DURATION:-5}"
runs="${RUNS:-2}"
base_port="${BENCH_PORT:-18580}"
pg_bin=/usr/lib/postgresql/15/bin

log() { echo "bench-cluster: $*" >&2; }

[[ -x "$pg_bin/initdb" ]] || { log "needs postgresql-15 (make setup installs it)"; exit 1; }
log "building the working tree at $(git rev-parse --short HEAD) in $cmake_dir"
cmake -S "$root" -B "$cmake_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_TESTS=OFF -DPARLEY_BENCH=ON >/dev/null
cmake --build "$cmake_dir" --target parley-relay parley-loadgen
relay_bin="$cmake_dir/parley-relay"
loadgen="$cmake_dir/bench/parley-loadgen"

rm -rf "$out"
mkdir -p "$out"
echo "working tree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lib apps bench || echo ' with uncommitted changes')" \
    >"$out/source.txt"

# --- the database -------------------------------------------------------------------
pg_dir="$(mktemp -d /tmp/parley-bench-pg-XXXXXX)"
as_pg=()
if [[ "$(id -u)" -eq 0 ]]; then
    chown nobody "$pg_dir"
    as_pg=(runuser -u nobody --)
fi
relay_pids=()
stop_all() {
    for pid in "${relay_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${relay_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    relay_pids=()
}
cleanup() {
    stop_all
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
trap cleanup EXIT
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U parley -A trust -E UTF8 --no-locale >"$out/initdb.log"
taskset -c 0 "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
    -o "-k $pg_dir -c listen_addresses='' -c max_connections=100" start >/dev/null
"$pg_bin/postgres" --version >"$out/postgres-version.txt"
psql_() { psql -h "$pg_dir" -U parley -qtAX "$@"; }

# The database server's processes (the postmaster and every child): CPU seconds.
pg_cpu_s() {
    local main
    main=$(head -n 1 "$pg_dir/data/postmaster.pid")
    local pids=("$main" $(pgrep -P "$main" || true))
    local ticks=0
    for pid in "${pids[@]}"; do
        local stat
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        local fields=($stat)
        ticks=$((ticks + fields[11] + fields[12]))
    done
    python3 -c "print($ticks / $(getconf CLK_TCK))"
}

# What every parley-relay run lifts (as bench/run.sh: one host, thousands of connections).
limits_off=(--max-connections 1048576 --max-connections-per-address 100000 --messages-per-second 0
            --bytes-per-second 0 --metrics-listen off
            --rooms-per-address-per-hour 100000 --rooms-per-founder-per-hour 100000
            --max-room-bytes $((1 << 40)) --max-total-bytes $((1 << 40)))
echo "${limits_off[*]}" >"$out/parley-relay-flags.txt"

# start_nodes CONFIG: the relays of sqlite, pg1, pg2 or pg3 on core 0; sets urls and db.
urls=()
db=""
start_nodes() {
    local config=$1 n=1 store_args=()
    urls=()
    relay_pids=()
    case $config in
        sqlite)
            rm -rf "$out/sqlite-data"
            store_args=(--data "$out/sqlite-data")
            ;;
        pg*)
            n=${config#pg}
            db="bench_$((++db_count))"
            "${as_pg[@]}" "$pg_bin/createdb" -h "$pg_dir" -U parley "$db"
            store_args=(--store "postgresql:///$db?host=$pg_dir&user=parley")
            ;;
    esac
    for ((i = 0; i < n; i++)); do
        local port=$((base_port + i))
        taskset -c 0 "$relay_bin" --listen "127.0.0.1:$port" --threads 1 "${store_args[@]}" "${limits_off[@]}" \
            2>>"$out/relay-$config.log" &
        relay_pids+=($!)
        urls+=("ws://127.0.0.1:$port")
        for _ in $(seq 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
            sleep 0.1
        done
    done
}
db_count=0

# bytes stored per message: the store's size over its log items.
bytes_per_message() {
    local config=$1
    if [[ $config == sqlite ]]; then
        python3 - "$out/sqlite-data/relay.sqlite" <<'EOF'
import os, sqlite3, sys
path = sys.argv[1]
size = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
rows = sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("SELECT count(*) FROM log").fetchone()[0]
print(f'{{"log_items": {rows}, "store_bytes": {size}, "log_bytes": null}}')
EOF
    else
        psql_ -d "$db" -c "SELECT '{\"log_items\": ' || (SELECT count(*) FROM log) || ', \"store_bytes\": ' ||
            pg_database_size(current_database()) || ', \"log_bytes\": ' || pg_total_relation_size('log') || '}'"
    fi
}

# run_case SCENARIO CONFIG LOADGEN-ARGS...
run_case() {
    local scenario=$1 config=$2; shift 2
    start_nodes "$config"
    local args=() pid_args=()
    for u in "${urls[@]}"; do args+=(--url "$u"); done
    for p in "${relay_pids[@]}"; do pid_args+=(--relay-pid "$p"); done
    local err="$out/loadgen-$scenario-$config.log" result="$out/loadgen.json"
    : >"$err"
    taskset -c 1 "$loadgen" "${args[@]}" "${pid_args[@]}" --label "$scenario/$config" --protocol parley "$@" \
        >"$result" 2>"$err" &
    local lg=$!
    # The timed part starts at the load generator's "set up" line.
    while kill -0 "$lg" 2>/dev/null && ! grep -q "set up" "$err"; do sleep 0.05; done
    local cpu0=0 commits0=0 syncs0=0 t0
    t0=$(date +%s.%N)
    if [[ $config == pg* ]]; then
        cpu0=$(pg_cpu_s)
        commits0=$(psql_ -d "$db" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        syncs0=$(psql_ -d "$db" -c "SELECT wal_sync FROM pg_stat_wal")
    fi
    local ok=1
    wait "$lg" || ok=0
    local t1 cpu1=0 commits1=0 syncs1=0
    t1=$(date +%s.%N)
    if [[ $config == pg* ]]; then
        cpu1=$(pg_cpu_s)
        sleep 0.6  # the statistics are flushed at most every 500 ms
        commits1=$(psql_ -d "$db" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        syncs1=$(psql_ -d "$db" -c "SELECT wal_sync FROM pg_stat_wal")
    fi
    stop_all
    if ((ok)) && [[ -s "$result" ]]; then
        local stored
        stored=$(bytes_per_message "$config")
        echo "{\"scenario\": \"$scenario\", \"config\": \"$config\", \"nodes\": ${#urls[@]}, \"args\": \"$*\"," \
             "\"window_s\": $(python3 -c "print($t1 - $t0)"), \"db_cpu_s\": $(python3 -c "print($cpu1 - $cpu0)")," \
             "\"db_commits\": $((commits1 - commits0)), \"db_wal_syncs\": $((syncs1 - syncs0)), \"stored\": $stored, \"result\": $(cat "$result")}" >>"$out/runs.jsonl"
        tail -n 1 "$err" >&2
    else
        echo "{\"scenario\": \"$scenario\", \"config\": \"$config\", \"nodes\": ${#urls[@]}, \"result\": null}" >>"$out/runs.jsonl"
        log "$scenario/$config failed (see $err)"
    fi
}

rooms=(--rooms 1000 --members 5 --senders 1 --bytes 256 --rate 0 --window 4 --duration "$duration")
latency=(--rooms 1 --members 100 --senders 10 --bytes 256 --rate 1000 --duration "$duration")
echo "rooms: ${rooms[*]}" >"$out/scenarios.txt"
echo "latency: ${latency[*]}" >>"$out/scenarios.txt"

for i in $(seq "$runs"); do
    for config in sqlite pg1 pg2 pg3; do
        log "run $i: $config"
        run_case rooms "$config" "${rooms[@]}"
        run_case latency "$config" "${latency[@]}"
    done
done

python3 bench/cluster_report.py "$out" "$duration" "$runs" >bench/CLUSTER-RESULTS.md
log "wrote bench/CLUSTER-RESULTS.md"
sed -n '/^## Summary/,/^## Every run/p' bench/CLUSTER-RESULTS.md | head -n -1
