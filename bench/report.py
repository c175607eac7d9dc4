"""Writes bench/RESULTS.md from one run of bench/run.sh.

usage: report.py RESULTS_DIR DURATION RUNS RELAY_THREADS > bench/RESULTS.md
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys

out, duration, runs, relay_threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
RELAYS = ["parley", "ws", "python"]
FIGURES = [  # key, heading, format, better
    ("deliveries_per_s", "deliveries/s", "{:,.0f}", "higher"),
    ("lost", "lost", "{:,.0f}", "lower"),
    ("p50_us", "p50 µs", "{:,.0f}", "lower"),
    ("p90_us", "p90 µs", "{:,.0f}", "lower"),
    ("p99_us", "p99 µs", "{:,.0f}", "lower"),
    ("max_us", "max µs", "{:,.0f}", "lower"),
    ("relay_cpu_us_per_delivery", "relay CPU µs/delivery", "{:.2f}", "lower"),
]
SCENARIOS = {
    "1-throughput": "1. 100 members, 10 senders, 256-byte messages, as fast as the relay takes them (32 in flight per sender)",
    "2-latency-100": "2. 1,000 messages/s (10 senders × 100/s) into a 100-member room",
    "3-latency-1000": "3. 100 messages/s (10 senders × 10/s) into a 1,000-member room",
    "4-rooms-1000x5": "4. 1,000 rooms of 5 members, one sender per room, as fast as possible (4 in flight per sender)",
}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def fmt(v, f="{:,.0f}"):
    return "—" if v is None else f.format(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


runs_all = [json.loads(l) for l in open(os.path.join(out, "runs.jsonl"))]
by = {}
for r in runs_all:
    by.setdefault((r["scenario"], r["relay"]), []).append(r["result"])


def median(scenario, relay, key):
    vals = [r[key] for r in by.get((scenario, relay), []) if r is not None and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def median_of(scenario, relay, fn):
    """The median over runs of a figure computed from each run's result."""
    vals = [v for v in (fn(r) for r in by.get((scenario, relay), []) if r is not None) if v is not None]
    return statistics.median(vals) if vals else None


def worst_lost(scenario, relay):
    vals = [r["lost"] for r in by.get((scenario, relay), []) if r is not None]
    return max(vals) if vals else None


def cpu_per_message(r):
    """Relay CPU µs per message: per delivery × deliveries per message (members − 1
    for Parley, members for a broadcast relay: expected ÷ sent)."""
    return r["relay_cpu_us_per_delivery"] * r["expected"] / r["sent"] if r.get("sent") else None


def rss_per(r, when, divisor):
    """Relay RSS grown since before the load generator connected, bytes per room or connection."""
    key = f"rss_{when}_kib"
    if key not in r or not r.get(divisor):
        return None
    return (r[key] - r["rss_before_kib"]) * 1024 / r[divisor]


def note(name):
    path = os.path.join(out, name)
    return open(path).read().strip() if os.path.exists(path) else None


def args_of(scenario, relay):
    r = next((x for x in runs_all if x["scenario"] == scenario and x["relay"] == relay), None)
    return r["args"] if r else None


S7 = "7-real-day"
S7_RELAYS = ["parley", "ws"]
THREADS = [("1-throughput", "1-throughput-threads2"), ("4-rooms-1000x5", "4-rooms-1000x5-threads2")]
MEMORY = "4-rooms-1000x5-memory"
s7_note = note("scenario7.txt") or ("ran" if any(k[0] == S7 for k in by) else "skipped: this run.sh had no scenario 7")
memory_note = note("memory_store.txt") or ("ran" if any(k[0] == MEMORY for k in by)
                                           else "skipped: this run.sh had no in-memory comparison")


lines = []
p = lines.append
p("# Parley benchmark results")
p("")
p("Written by `bench/run.sh` (`make bench`) from one run; do not edit by hand. How the")
p("figures are made: bench/README.md.")
p("")
p("## Machine")
p("")
cpu_model = sh("lscpu | sed -n 's/^Model name: *//p'")
ws_version = json.load(open("bench/reference/node_modules/ws/package.json"))["version"]
py_version = sh("/usr/bin/python3 -c 'import sys, websockets; print(sys.version.split()[0], \"websockets\", websockets.__version__)'")
load = open("/proc/loadavg").read().split()[:3]
p(f"- CPUs: {os.cpu_count()} ({cpu_model})")
p(f"- kernel: {platform.release()}; Node.js {sh('node --version')} with ws {ws_version}; Python {py_version}")
p(f"- load average when the report was written: {' '.join(load)} "
  "(other work on this machine shares both cores: treat small differences as noise)")
p(f"- built from: {open(os.path.join(out, 'source.txt')).read().strip()}, RelWithDebInfo (as the release preset)")
p(f"- relay pinned to core 0 (`taskset -c 0`, parley-relay `--threads {relay_threads}`), load generator on core 1; "
  "issue 13's two-thread runs pin parley-relay `--threads 2` to cores 0 and 1, sharing core 1 with the load generator")
p(f"- {duration} s of sending per run (the issue says 10 s; shortened to keep `make bench` to a few minutes), "
  f"{runs} runs of everything, each on a freshly started relay; figures below are medians of the runs")
p("")
p("## Commands")
p("")
p("```")
p("make bench            # = bench/run.sh; DURATION=10 RUNS=3 make bench for longer runs")
p(f"taskset -c 0 parley-relay --listen 127.0.0.1:PORT --threads {relay_threads} --data DIR "
  + (note("parley-relay-flags.txt") or "...") + "   # every parley-relay run: the caps lifted ('...' below)")
for sc in SCENARIOS:
    r = next((x for x in runs_all if x["scenario"] == sc and x["relay"] == "parley"), None)
    if r:
        p(f"parley-loadgen --url ws://127.0.0.1:PORT --relay-pid PID --protocol parley {r['args']}")
p("parley-loadgen ... --protocol broadcast --payload binary ...   # ws relay: Parley-sized binary frames")
p("parley-loadgen ... --protocol broadcast --payload json ...     # Python relay: chat.py's JSON messages")
p("parley-loadgen ... --idle --rooms 10|50 --members 100 [wss://]  # scenario 5")
p("parley-fanout-floor --members 100|1000 --rate 1000|100 --duration D --bytes 256 --relay-core 0 --client-core 1  # scenarios 2, 3")
p("# issue 13: scenario 7, a relay's real day (wss, durable; relay and load generator with ulimit -n 262144)")
p("taskset -c 0 parley-relay --listen 127.0.0.1:PORT --threads 1 --cert cert.pem --key key.pem --data DIR ...")
p("node bench/reference/ws-relay.js PORT cert.pem key.pem")
p("parley-loadgen --url wss://127.0.0.1:PORT --relay-pid PID --protocol parley|broadcast "
  + (args_of(S7, "parley") or args_of(S7, "ws") or "--rooms 10000 --room-sizes 2-12 --seed 13 --arrivals poisson "
     "--rate 2000 --bytes 256 --duration D --source-addresses 16 --read-buffer 4096"))
p("parley-fanout-floor " + (args_of(S7, "floor") or "--room-sizes 2-12 --seed 13 --arrivals poisson --rate 2000")
  + " --duration D --bytes 256 --relay-core 0 --client-core 1")
p("# issue 13: scenarios 1 and 4 on two relay threads (load generator still on core 1)")
p("taskset -c 0,1 parley-relay --threads 2 ...")
for base, sc in THREADS:
    p("parley-loadgen --url ws://127.0.0.1:PORT --relay-pid PID --protocol parley "
      + (args_of(sc, "parley") or (args_of(base, "parley") or "...") + " --drain 10"))
p("perf record -a -F 999 -o perf-NAME.data -- sleep D   # the last run of each, from the load generator's set-up line")
p("perf report -i perf-NAME.data --stdio --sort comm,dso --percent-limit 0.5")
p("# issue 13: scenario 4 on the in-memory store")
p("taskset -c 0 parley-relay --store memory ...   # no --data")
p("parley-loadgen --url ws://127.0.0.1:PORT --relay-pid PID --protocol parley " + (args_of(MEMORY, "parley") or args_of("4-rooms-1000x5", "parley") or "..."))
p("parley-crypto-bench --benchmark_min_time=0.5 --benchmark_repetitions=2")
p("python3 bench/reference/python_client_bench.py 2")
p("```")
p("")

# --- summary ---------------------------------------------------------------------
summary = []
s = summary.append
s("## Summary")
s("")
s("Ratios are Parley ÷ reference for every figure: above 1 is better for deliveries/s,")
s("below 1 is better for everything else (latency, CPU, memory).")
s("")
s("| scenario | figure | Parley | ws | Python | Parley/ws | Parley/Python |")
s("|---|---|---:|---:|---:|---:|---:|")
for sc in SCENARIOS:
    for key, name, f, _ in FIGURES:
        v = {k: median(sc, k, key) for k in RELAYS}
        s(f"| {sc} | {name} | {fmt(v['parley'], f)} | {fmt(v['ws'], f)} | {fmt(v['python'], f)} | "
          f"{ratio(v['parley'], v['ws'])} | {ratio(v['parley'], v['python'])} |")
for n in (1000, 5000):
    for t in ("plain", "tls"):
        sc = f"5-idle-{n}-{t}"
        v = {k: median(sc, k, "bytes_per_connection") for k in RELAYS}
        s(f"| {sc} | relay memory, bytes/connection | {fmt(v['parley'])} | {fmt(v['ws'])} | {fmt(v['python'])} | "
          f"{ratio(v['parley'], v['ws'])} | {ratio(v['parley'], v['python'])} |")
s(f"| 6-durable | — | {open(os.path.join(out, 'scenario6.txt')).read().strip()} | | | | |")
s("")

# --- the bare fan-out ------------------------------------------------------------------
s("### The bare fan-out under scenarios 2 and 3")
s("")
s("`parley-fanout-floor` (bench/fanout_floor.cpp) is the same fan-out with no relay at all:")
s("one `send()` per recipient from core 0 and nothing else (no WebSocket, no storage, no")
s("queue), to loopback connections read on core 1, with the scenario's members, rate and")
s("frame size. Its CPU per send is what the kernel charges a relay for each copy it writes")
s("alone; its latency is the fan-out's own, before any relay adds to it. (A relay that falls")
s("behind can beat its tail by writing several frames per call, as Parley does.)")
s("")
s("| scenario | bare p50 µs | bare p99 µs | bare CPU µs/send | Parley p50 µs | Parley p99 µs | Parley CPU µs/delivery | Parley p99 ÷ bare p99 | ws p99 ÷ bare p99 |")
s("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for sc in ("2-latency-100", "3-latency-1000"):
    fl = {k: median(sc, "floor", k) for k in ("p50_us", "p99_us", "send_cpu_us")}
    s(f"| {sc} | {fmt(fl['p50_us'])} | {fmt(fl['p99_us'])} | {fmt(fl['send_cpu_us'], '{:.2f}')} | "
      f"{fmt(median(sc, 'parley', 'p50_us'))} | {fmt(median(sc, 'parley', 'p99_us'))} | "
      f"{fmt(median(sc, 'parley', 'relay_cpu_us_per_delivery'), '{:.2f}')} | "
      f"{ratio(median(sc, 'parley', 'p99_us'), fl['p99_us'])} | {ratio(median(sc, 'ws', 'p99_us'), fl['p99_us'])} |")
s("")

# --- issue 13: scenario 7 -------------------------------------------------------------
def check(ok):
    if ok is None:
        return "not measured"
    return "met" if ok else "**not met**"


s7_runs = [r for k in S7_RELAYS for r in by.get((S7, k), []) if r is not None]
s7_floor = {k: median(S7, "floor", k) for k in ("p50_us", "p90_us", "p99_us", "max_us", "send_cpu_us", "copies_per_message")}
s("### Scenario 7: a relay's real day (issue 13)")
s("")
if s7_note.startswith("skipped"):
    s(f"Scenario 7 {s7_note}.")
    s("")
else:
    first = s7_runs[0] if s7_runs else None
    if first:
        s(f"{first['rooms']:,} rooms of {first['room_sizes']} members ({first['connections']:,} connections; sizes drawn "
          f"per room from SplitMix64 seeded {first['seed']}, the same on every machine), one Poisson process of "
          f"{first['rate']:,.0f} messages/s over all of them, each message from a member drawn uniformly, "
          "256-byte texts, over TLS (wss), parley-relay on its default durable store (SQLite, WAL). "
          "RSS per room and per connection: relay VmRSS after set-up and at the end of the run, minus "
          "VmRSS before the load generator connected. Set-up: connect, TLS, WebSocket upgrade, publish and join "
          "of every connection, and (Parley) building the rooms' genesis records and sealing the envelopes the "
          "run needs.")
        if first["rooms"] != 10000:
            s("")
            s(f"**Scaled down**: {first['rooms']:,} rooms instead of 10,000 ({s7_note}).")
    else:
        s(f"Every scenario 7 run failed (see build/bench/results/loadgen.log); {s7_note}.")
    s("")
    s("The Python relay is not run in this scenario: at its ~300 KB per TLS connection (scenario 5)")
    s("~70,000 connections would take ~21 GB, and it cannot keep up with far smaller loads.")
    s("")
    s("| figure | Parley | ws | Parley/ws |")
    s("|---|---:|---:|---:|")
    s7_rows = [(name, f, lambda sc, k, key=key: median(sc, k, key)) for key, name, f, _ in FIGURES]
    s7_rows += [
        ("relay CPU µs/message", "{:.2f}", lambda sc, k: median_of(sc, k, cpu_per_message)),
        ("relay RSS per room after set-up, bytes", "{:,.0f}", lambda sc, k: median_of(sc, k, lambda r: rss_per(r, "setup", "rooms"))),
        ("relay RSS per room at the end, bytes", "{:,.0f}", lambda sc, k: median_of(sc, k, lambda r: rss_per(r, "end", "rooms"))),
        ("relay RSS per connection after set-up, bytes", "{:,.0f}", lambda sc, k: median_of(sc, k, lambda r: rss_per(r, "setup", "connections"))),
        ("relay RSS per connection at the end, bytes", "{:,.0f}", lambda sc, k: median_of(sc, k, lambda r: rss_per(r, "end", "connections"))),
        ("set-up time, s", "{:.1f}", lambda sc, k: median(sc, k, "setup_s")),
    ]
    for name, f, get in s7_rows:
        v = {k: get(S7, k) for k in S7_RELAYS}
        s(f"| {name} | {fmt(v['parley'], f)} | {fmt(v['ws'], f)} | {ratio(v['parley'], v['ws'])} |")
    s("")
    s(f"The bare fan-out of the same copies (`parley-fanout-floor {args_of(S7, 'floor') or '—'}`: "
      f"{fmt(s7_floor['copies_per_message'], '{:.2f}')} copies a message on average over 11 connections, one `send()` each, "
      f"same rate, sizes from the same distribution): p50 {fmt(s7_floor['p50_us'])} µs, p90 {fmt(s7_floor['p90_us'])} µs, "
      f"p99 {fmt(s7_floor['p99_us'])} µs, max {fmt(s7_floor['max_us'])} µs, {fmt(s7_floor['send_cpu_us'], '{:.2f}')} µs "
      f"of CPU per send. Parley p99 ÷ bare p99: {ratio(median(S7, 'parley', 'p99_us'), s7_floor['p99_us'])}; "
      f"ws: {ratio(median(S7, 'ws', 'p99_us'), s7_floor['p99_us'])}.")
    s("")

# --- issue 13: two threads, and the in-memory store ---------------------------------------
s("### parley-relay on two threads (issue 13): scenarios 1 and 4")
s("")
s("parley-relay `--threads 2` pinned to cores 0 and 1 (`taskset -c 0,1`) against the usual")
s(f"`--threads {relay_threads}` on core 0. The load generator stays on core 1, so in the two-thread runs it")
s("shares a core with the relay (its CPU time is in the every-run tables below); they drain for 10 s")
s("instead of 3, as the starved load generator reads the last deliveries late.")
s("")
s("| scenario | 1 thread deliveries/s | 2 threads deliveries/s | 2 ÷ 1 | lost, 2 threads (worst run) | relay CPU µs/delivery, 1 thread | 2 threads | loadgen CPU s, 2 threads |")
s("|---|---:|---:|---:|---:|---:|---:|---:|")
for base, sc in THREADS:
    one, two = median(base, "parley", "deliveries_per_s"), median(sc, "parley", "deliveries_per_s")
    s(f"| {base} | {fmt(one)} | {fmt(two)} | {ratio(two, one)} | {fmt(worst_lost(sc, 'parley'))} | "
      f"{fmt(median(base, 'parley', 'relay_cpu_us_per_delivery'), '{:.2f}')} | "
      f"{fmt(median(sc, 'parley', 'relay_cpu_us_per_delivery'), '{:.2f}')} | {fmt(median(sc, 'parley', 'loadgen_cpu_s'), '{:.2f}')} |")
s("")


def perf_profile(name):
    """perf-NAME.txt (perf report --sort comm,dso): [(process, library, share of both cores)], busy share."""
    path = os.path.join(out, f"perf-{name}.txt")
    if not os.path.exists(path):
        return None
    text = open(path).read()
    m = re.search(r"Event count \(approx\.\): (\d+)", text)
    if not m:
        return None
    capacity_ns = 2 * float(duration) * 1e9  # both cores over the timed part
    scale = int(m.group(1)) / capacity_ns
    rows = []
    for line in text.splitlines():
        f = re.match(r"\s+([\d.]+)%\s+(\S+)\s+(.+?)\s*$", line)
        if f and f.group(2) != "swapper":  # the idle task: what no process used
            rows.append((f.group(2), f.group(3), float(f.group(1)) / 100 * scale))
    return rows, sum(share for _, _, share in rows)


perf_note = note("perf.txt") or "skipped: this run.sh took no profile"
profiles = {sc: perf_profile(sc.replace("1-throughput-threads2", "threads2-s1").replace("4-rooms-1000x5-threads2", "threads2-s4"))
            for _, sc in THREADS}
if perf_note.startswith("skipped"):
    s(f"Where the time goes: the profile was {perf_note}.")
    s("")
for base, sc in THREADS:
    prof = profiles[sc]
    if not prof:
        continue
    rows, busy = prof
    by_process = {}
    for comm, _, share in rows:
        by_process[comm] = by_process.get(comm, 0) + share
    s(f"Where the time goes in scenario {base[0]} on two threads: `perf record -a` of both cores over the last run's "
      f"timed part, by process and library, as a share of both cores' time ({100 * busy:.0f} % busy; libraries "
      f"under 0.5 % of the samples left out):")
    s("")
    s("| process | library | share of both cores |")
    s("|---|---|---:|")
    for comm, dso, share in rows:
        s(f"| {comm} | {dso} | {100 * share:.1f} % |")
    for comm, share in sorted(by_process.items(), key=lambda kv: -kv[1]):
        s(f"| **{comm}** | all | **{100 * share:.1f} %** |")
    s("")
s("### Durable against in-memory store (issue 13): scenario 4")
s("")
durable_s4 = median("4-rooms-1000x5", "parley", "deliveries_per_s")
memory_s4 = median(MEMORY, "parley", "deliveries_per_s")
if memory_note.startswith("skipped"):
    s(f"The in-memory run was {memory_note}.")
    s("")
else:
    s("parley-relay on its default store (SQLite in `--data`, WAL, each message committed before its Ack)")
    s("against `--store memory` (nothing written to disk), scenario 4 otherwise unchanged.")
    s("")
    s("| store | deliveries/s | p50 µs | p99 µs | relay CPU µs/delivery | lost (worst run) |")
    s("|---|---:|---:|---:|---:|---:|")
    for name, sc in (("durable (sqlite)", "4-rooms-1000x5"), ("memory", MEMORY)):
        s(f"| {name} | {fmt(median(sc, 'parley', 'deliveries_per_s'))} | {fmt(median(sc, 'parley', 'p50_us'))} | "
          f"{fmt(median(sc, 'parley', 'p99_us'))} | {fmt(median(sc, 'parley', 'relay_cpu_us_per_delivery'), '{:.2f}')} | "
          f"{fmt(worst_lost(sc, 'parley'))} |")
    s("")
    s(f"Durable ÷ memory deliveries/s: {ratio(durable_s4, memory_s4)}.")
    s("")

# --- crypto ------------------------------------------------------------------------------

crypto = json.load(open(os.path.join(out, "crypto.json")))
rate = {}
for b in crypto["benchmarks"]:
    if b.get("run_type") == "aggregate":
        continue
    name = b["name"].split("/")[0]
    if "items_per_second" in b:
        rate.setdefault(name, []).append(b["items_per_second"])
    else:
        rate.setdefault(name, []).append(b["real_time"])  # ms for Argon2id
med = {k: statistics.median(v) for k, v in rate.items()}
py = json.load(open(os.path.join(out, "python_client.json")))
s("### Client crypto, 256-byte message (messages/s, one core)")
s("")
receive = med.get("BM_ReceiveEncodedMessage", med["BM_OpenMessage"])
s("| operation | Parley | bare libsodium | Parley cost ÷ bare | chat.py as written | Parley ÷ chat.py | chat.py primitives only | Parley ÷ that |")
s("|---|---:|---:|---:|---:|---:|---:|---:|")
s(f"| seal + sign (encoded) | {med['BM_SealMessage']:,.0f} | {med['BM_BareSealPrimitives']:,.0f} | "
  f"{med['BM_BareSealPrimitives'] / med['BM_SealMessage']:.2f} | {py['seal_as_written_per_s']:,.0f} | "
  f"{med['BM_SealMessage'] / py['seal_as_written_per_s']:.0f}× | {py['seal_per_s']:,.0f} | "
  f"{med['BM_SealMessage'] / py['seal_per_s']:.0f}× |")
s(f"| verify + open | {med['BM_OpenMessage']:,.0f} | {med['BM_BareOpenPrimitives']:,.0f} | "
  f"{med['BM_BareOpenPrimitives'] / med['BM_OpenMessage']:.2f} | | | {py['open_per_s']:,.0f} | "
  f"{med['BM_OpenMessage'] / py['open_per_s']:.0f}× |")
s(f"| receive: decode + verify + open | {receive:,.0f} | | | {py['open_as_written_per_s']:,.0f} | "
  f"{receive / py['open_as_written_per_s']:.0f}× | | |")
s("")
s(f"Argon2id at the default parameters (ops 3, 64 MiB), once per join: {med['BM_Argon2idDefault']:.0f} ms.")
s("")
s("\"chat.py as written\" is the original client's own messages per second: what it does for")
s("every message it sends (AES-EAX, RSA-2048 signature, hex and JSON) or receives (JSON,")
s("reading and importing public key files until one verifies, three members, the sender")
s("in the middle). Issue 5's ratios are taken against it. \"Primitives only\" is its best")
s("case, its crypto calls alone with the key preloaded: RSA-2048 verification is cheap, so")
s("against that Parley's receive, bound by one Ed25519 verification, is about 10×.")
s("")
chain_seal = med.get("BM_SealMessageWithSenderChain")
chain_open = med.get("BM_OpenMessageWithReceiverChain")
chain_late = med.get("BM_OpenMessageWithReceiverChainOutOfOrder")
if chain_seal and chain_open:
    s("### Version 2's sender chains (forward secrecy inside an epoch, issue 10)")
    s("")
    s("Each message key from a hash ratchet (docs/PROTOCOL.md §10.2: two crypto_kdf steps,")
    s("the used key erased) instead of the epoch's one key. Issue 10 bounds the cost at 1.3×")
    s("today's per message.")
    s("")
    s("| operation | today (messages/s) | with the chain | cost | within 1.3× |")
    s("|---|---:|---:|---:|---|")
    s(f"| seal + sign | {med['BM_SealMessage']:,.0f} | {chain_seal:,.0f} | "
      f"{med['BM_SealMessage'] / chain_seal:.2f}× | {check(med['BM_SealMessage'] / chain_seal <= 1.3)} |")
    s(f"| verify + open, in order | {med['BM_OpenMessage']:,.0f} | {chain_open:,.0f} | "
      f"{med['BM_OpenMessage'] / chain_open:.2f}× | {check(med['BM_OpenMessage'] / chain_open <= 1.3)} |")
    if chain_late:
        s(f"| verify + open, every other one late (skipped keys) | {med['BM_OpenMessage']:,.0f} | "
          f"{chain_late:,.0f} | {med['BM_OpenMessage'] / chain_late:.2f}× | "
          f"{check(med['BM_OpenMessage'] / chain_late <= 1.3)} |")
    s("")

client_store_file = os.path.join(out, "client_store.json")
if os.path.exists(client_store_file):
    cs = {}
    for b in json.load(open(client_store_file))["benchmarks"]:
        if b.get("run_type") != "aggregate" and "items_per_second" in b:
            cs.setdefault(b["name"].split("/")[0], []).append(b["items_per_second"])
    cs = {k: statistics.median(v) for k, v in cs.items()}
    s("### A client's whole cost per message, with its state file (issue 10's 1.3×)")
    s("")
    s("What a reader does per Deliver (checks, history row sealed and added, stream position,")
    s("one commit) and a sender per message (take the counter or chain position, seal, store its")
    s("own message), on a state file on disk (WAL, synchronous=NORMAL, secure_delete).")
    s("Version 2 also replaces the sealed chain row and forgets the old one with a `TRUNCATE`")
    s("checkpoint, at most once per 100 ms (docs/PROTOCOL.md §10.2): a checkpoint per message")
    s("made version 2 about 5× slower. `parley-client-store-bench`, 2,000 messages a run.")
    s("")
    s("| operation | version 1 (messages/s) | version 2 | cost | within 1.3× |")
    s("|---|---:|---:|---:|---|")
    for what, v1, v2 in (("receive and store", "BM_ClientReceiveV1", "BM_ClientReceiveV2"),
                         ("take, seal and store one's own", "BM_ClientSendV1", "BM_ClientSendV2")):
        if v1 in cs and v2 in cs:
            s(f"| {what} | {cs[v1]:,.0f} | {cs[v2]:,.0f} | {cs[v1] / cs[v2]:.2f}× | {check(cs[v1] / cs[v2] <= 1.3)} |")
    s("")

def rotation_runs(prefix):
    runs = {}
    for b in crypto["benchmarks"]:
        if b.get("run_type") != "aggregate" and b["name"].startswith(prefix):
            runs.setdefault(int(b["name"].split("/")[1]), []).append(b)
    return runs


rotation, rotation_v2 = rotation_runs("BM_RotationRecord/"), rotation_runs("BM_RotationRecordV2/")
if rotation:
    s("### A rotation: version 1's rekey, and version 2's (docs/PROTOCOL.md §10.6)")
    s("")
    s("One member writes the next epoch record: a fresh epoch secret sealed to every member")
    s("(version 1, to the X25519 form of its identity key, §4) or to every device's update")
    s("key (version 2, one device per member here, with its certificate and update key entry")
    s("in the record), signed. Every member then opens its own box once.")
    s("")
    s("| members | version | time to write (ms) | record bytes | bytes per member |")
    s("|---:|---:|---:|---:|---:|")
    for version, runs_by_n in ((1, rotation), (2, rotation_v2)):
        for n, runs in sorted(runs_by_n.items()):
            s(f"| {n} | {version} | {statistics.median(r['cpu_time'] for r in runs):.2f} | "
              f"{runs[0]['record_bytes']:,.0f} | {runs[0]['bytes_per_member']:.0f} |")
    if "BM_RotationOpenOwnBox" in med:
        s("")
        s(f"Version 1, opening one's own box in a 50-member record: {1e6 / med['BM_RotationOpenOwnBox']:.0f} µs.")
    if "BM_RotationReceiveV2" in med:
        s(f"Version 2, receiving a 50-member rotation (decode, verify the author's signature and its new")
        s(f"update key entry, open one's own box): {1e6 / med['BM_RotationReceiveV2']:.0f} µs.")
    s("")

# --- targets ---------------------------------------------------------------------------

t1 = median("1-throughput", "parley", "deliveries_per_s"), median("1-throughput", "ws", "deliveries_per_s")
lost1 = max([r["lost"] for r in by.get(("1-throughput", "parley"), []) if r] or [None])
p99_2 = median("2-latency-100", "parley", "p99_us")
p99_3 = median("3-latency-1000", "parley", "p99_us")
mem_plain = median("5-idle-5000-plain", "parley", "bytes_per_connection")
mem_tls = median("5-idle-5000-tls", "parley", "bytes_per_connection")
seal_x = med["BM_SealMessage"] / py["seal_as_written_per_s"]
open_x = receive / py["open_as_written_per_s"]
seal_cost = med["BM_BareSealPrimitives"] / med["BM_SealMessage"]
open_cost = med["BM_BareOpenPrimitives"] / med["BM_OpenMessage"]
s("### Issue 5's targets")
s("")
s("| target | measured | |")
s("|---|---|---|")
if None not in t1:
    s(f"| scenario 1: ≥ 10× ws deliveries/s, 0 lost | {t1[0] / t1[1]:.2f}× ws, {lost1} lost (worst run) | "
      f"{check(t1[0] >= 10 * t1[1] and lost1 == 0)} |")
for sc, p99, limit_ms, ws_said_ms in (("2-latency-100", p99_2, 0.5, 2), ("3-latency-1000", p99_3, 3, 30)):
    if p99 is None:
        continue
    floor_p99 = median(sc, "floor", "p99_us")
    ws_p99 = median(sc, "ws", "p99_us")
    # The issue gives a time, and beside it what ws shows (2 ms, 30 ms): the time
    # is the verdict; the ratio to ws in this run is shown for reading it on
    # this machine, marked as such.
    s(f"| scenario {sc[0]}: p99 < {limit_ms:g} ms | {p99 / 1000:.2f} ms; the bare fan-out here: p99 "
      f"{fmt(floor_p99 and floor_p99 / 1000, '{:.2f}')} ms (informational: {ratio(p99, ws_p99)} ws in this run, "
      f"where the issue's {limit_ms:g} ms is {limit_ms / ws_said_ms:.2f}× the {ws_said_ms} ms it expects of ws) | "
      f"{check(p99 < limit_ms * 1000)} |")
if mem_plain is not None:
    s(f"| idle memory ≤ 6 KiB per plain connection (5,000) | {mem_plain / 1024:.1f} KiB | {check(mem_plain <= 6144)} |")
if mem_tls is not None:
    s(f"| idle memory ≤ 40 KiB per TLS connection (5,000) | {mem_tls / 1024:.1f} KiB | {check(mem_tls <= 40960)} |")
s(f"| seal+sign ≥ 40× chat.py (as written) | {seal_x:.0f}× | {check(seal_x >= 40)} |")
s(f"| verify+open ≥ 20× chat.py (as written; {med['BM_OpenMessage'] / py['open_per_s']:.0f}× its primitives alone) | {open_x:.0f}× | {check(open_x >= 20)} |")
s(f"| seal+sign within 1.15× the bare primitives | {seal_cost:.2f}× | {check(seal_cost <= 1.15)} |")
s(f"| verify+open within 1.15× the bare primitives | {open_cost:.2f}× | {check(open_cost <= 1.15)} |")
s("")


def at_most(a, b, factor):
    """a ≤ factor × b, None when either is missing."""
    return None if a is None or b is None else a <= factor * b


def x(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


s("### Issue 13's targets")
s("")
s("| target | measured | |")
s("|---|---|---|")
d4 = {k: median("4-rooms-1000x5", k, "deliveries_per_s") for k in ("parley", "ws")}
s(f"| scenario 4: ≥ 2× ws deliveries/s | {fmt(d4['parley'])} against {fmt(d4['ws'])}: {x(d4['parley'], d4['ws'])} ws | "
  f"{check(None if None in d4.values() else d4['parley'] >= 2 * d4['ws'])} |")
c4 = {k: median_of("4-rooms-1000x5", k, cpu_per_message) for k in ("parley", "ws")}
per_msg = {k: median_of("4-rooms-1000x5", k, lambda r: r["expected"] / r["sent"] if r.get("sent") else None) for k in ("parley", "ws")}
c4d = {k: median("4-rooms-1000x5", k, "relay_cpu_us_per_delivery") for k in ("parley", "ws")}
s(f"| scenario 4: relay CPU per message ≤ 0.5× ws's (per delivery × deliveries per message) | "
  f"Parley {fmt(c4['parley'], '{:.1f}')} µs ({fmt(c4d['parley'], '{:.2f}')} × {fmt(per_msg['parley'], '{:.0f}')}), "
  f"ws {fmt(c4['ws'], '{:.1f}')} µs ({fmt(c4d['ws'], '{:.2f}')} × {fmt(per_msg['ws'], '{:.0f}')}): {x(c4['parley'], c4['ws'])} | "
  f"{check(at_most(c4['parley'], c4['ws'], 0.5))} |")
lost4 = worst_lost("4-rooms-1000x5", "parley")
s(f"| scenario 4: 0 lost | {fmt(lost4)} (worst run) | {check(None if lost4 is None else lost4 == 0)} |")
if s7_note.startswith("skipped"):
    s(f"| scenario 7: p99 ≤ 2× the bare fan-out's p99 | {s7_note} | not measured |")
else:
    p99_7, floor_7 = median(S7, "parley", "p99_us"), s7_floor["p99_us"]
    s(f"| scenario 7: p99 ≤ 2× the bare fan-out's p99 | {fmt(p99_7)} µs against {fmt(floor_7)} µs: {x(p99_7, floor_7)} | "
      f"{check(at_most(p99_7, floor_7, 2))} |")
    shown = []
    for k, name in (("parley", "Parley"), ("ws", "ws")):
        shown.append(f"{name} {fmt(median(S7, k, 'relay_cpu_us_per_delivery'), '{:.2f}')} µs/delivery, "
                     f"{fmt(median_of(S7, k, lambda r: rss_per(r, 'end', 'rooms')), '{:,.0f}')} bytes of RSS per room "
                     f"({fmt(median_of(S7, k, lambda r: rss_per(r, 'end', 'connections')), '{:,.0f}')} per connection)")
    s(f"| scenario 7: relay CPU per delivery and RSS per room (shown) | {'; '.join(shown)} | — |")
p50_2 = {k: median("2-latency-100", k, "p50_us") for k in ("parley", "ws")}
s(f"| scenario 2: Parley p50 ≤ ws p50 | {fmt(p50_2['parley'])} µs against {fmt(p50_2['ws'])} µs | "
  f"{check(at_most(p50_2['parley'], p50_2['ws'], 1))} |")
floor_2 = median("2-latency-100", "floor", "p99_us")
s(f"| scenario 2: p99 ≤ 2× the bare fan-out's p99 | {fmt(p99_2)} µs against {fmt(floor_2)} µs: {x(p99_2, floor_2)} | "
  f"{check(at_most(p99_2, floor_2, 2))} |")
for base, sc in THREADS:
    one, two = median(base, "parley", "deliveries_per_s"), median(sc, "parley", "deliveries_per_s")
    s(f"| scenario {base[0]}: 2 threads ÷ 1 thread deliveries/s ≥ 1.6× | {fmt(two)} ÷ {fmt(one)} = {x(two, one)} | "
      f"{check(None if None in (one, two) else two >= 1.6 * one)} |")
if memory_note.startswith("skipped"):
    s(f"| scenario 4: durable ÷ in-memory deliveries/s ≥ 0.8 | {memory_note} | not measured |")
else:
    s(f"| scenario 4: durable ÷ in-memory deliveries/s ≥ 0.8 | {fmt(durable_s4)} ÷ {fmt(memory_s4)} = "
      f"{x(durable_s4, memory_s4)} | {check(None if None in (durable_s4, memory_s4) else durable_s4 >= 0.8 * memory_s4)} |")
s("")

# Why what is not met is not met: the floors, from this run's own figures.
s("#### Where the targets not met stop")
s("")
send_cpu = median("2-latency-100", "floor", "send_cpu_us")  # the kernel's price of one send() of one frame
frames_per_read = median_of("4-rooms-1000x5", "parley",
                            lambda r: r["delivered"] / r["loadgen_reads"] if r.get("loadgen_reads") else None)
if None not in (send_cpu, d4["ws"], c4d["parley"], per_msg["parley"], c4["ws"]):
    frames = per_msg["parley"] + 1  # its Delivers and the sender's Ack
    need = 1e6 / (2 * d4["ws"])
    kernel = send_cpu * frames / per_msg["parley"]
    s(f"- **Scenario 4** (one core): 2× ws's deliveries/s needs at most {need:.2f} µs of relay CPU per "
      f"delivery. Each message is {frames:.0f} frames ({per_msg['parley']:.0f} Delivers and the sender's Ack), "
      f"each connection gets one of them per commit, so each is its own `send()` (the load generator read "
      f"{fmt(frames_per_read, '{:.1f}')} frames per read), and one `send()` costs {send_cpu:.2f} µs of "
      f"kernel CPU on this machine (the bare fan-out above): {kernel:.2f} µs per delivery before the relay "
      f"reads, stores or decides anything, against the {need:.2f} µs. Likewise 0.5× ws's CPU per message is "
      f"{0.5 * c4['ws']:.1f} µs; the {frames:.0f} `send()`s alone cost {send_cpu * frames:.1f} µs, which leaves "
      f"{0.5 * c4['ws'] - send_cpu * frames:.1f} µs to read the Send, store it and route it. "
      f"Parley spends {c4d['parley']:.2f} µs per delivery; the durable store's share of it is "
      f"{fmt(None if None in (c4d['parley'], median(MEMORY, 'parley', 'relay_cpu_us_per_delivery')) else c4d['parley'] - median(MEMORY, 'parley', 'relay_cpu_us_per_delivery'), '{:.2f}')} µs "
      f"(against `--store memory`). bench/README.md lists what was tried to batch more frames per "
      f"write, and what it cost elsewhere.")
busy_2 = median_of("2-latency-100", "parley", lambda r: r["relay_cpu_s"] / r["elapsed_s"] if r.get("elapsed_s") else None)
floor_busy_2 = None if send_cpu is None else send_cpu * median("2-latency-100", "parley", "deliveries_per_s") / 1e6
if None not in (busy_2, floor_busy_2):
    s(f"- **Scenario 2's p99**: at 1,000 messages/s into 100 members the relay's one core is "
      f"{100 * busy_2:.0f} % busy ({fmt(median('2-latency-100', 'parley', 'relay_cpu_us_per_delivery'), '{:.2f}')} µs "
      f"per delivery); the bare fan-out's sends alone would keep it {100 * floor_busy_2:.0f} % busy. "
      f"Near saturation a message that arrives while the previous one's 99 copies are still being written "
      f"waits for them: the tail is queueing, and it grows far faster than the load.")
if not s7_note.startswith("skipped"):
    busy_7 = median_of(S7, "parley", lambda r: r["relay_cpu_s"] / r["elapsed_s"] if r.get("elapsed_s") else None)
    cpm_7 = median_of(S7, "parley", cpu_per_message)
    copies_7 = s7_floor["copies_per_message"]
    if None not in (busy_7, cpm_7, copies_7, s7_floor["send_cpu_us"]):
        s(f"- **Scenario 7's p99**: at 2,000 messages/s the relay spends {cpm_7:.0f} µs of CPU per message "
          f"({100 * busy_7:.0f} % of its core), against {copies_7 * s7_floor['send_cpu_us']:.0f} µs for the bare "
          f"fan-out's {copies_7:.1f} `send()`s. A paced relay is woken for nearly every message, so each pays "
          f"alone for what batches share under load: its reading thread's wake-up, a TLS record per copy, a "
          f"durable commit of its own, and the hand-offs to the writer thread and back; even the bare "
          f"`send()` costs {s7_floor['send_cpu_us']:.2f} µs here against {send_cpu:.2f} µs in scenario 2, as its "
          f"reader sleeps between messages. ws, with no storage and one thread, is "
          f"{x(median(S7, 'ws', 'p99_us'), s7_floor['p99_us'])} its floor's p99.")
def profile_sentence(prof):
    """The two-thread profile in a sentence: each process's share of both cores, the kernel's part of it."""
    if not prof:
        return ""
    rows, busy = prof
    parts = []
    for comm in ("parley-relay", "parley-loadgen"):
        total = sum(share for c, _, share in rows if c == comm)
        kernel = sum(share for c, dso, share in rows if c == comm and dso.startswith("[kernel"))
        parts.append(f"{comm} {100 * total:.0f} % (the kernel {100 * kernel:.0f} % of it)")
    return (f" perf over the timed part (above): {', '.join(parts)}, everything else "
            f"{100 * (busy - sum(share for c, _, share in rows if c in ('parley-relay', 'parley-loadgen'))):.0f} %, "
            f"idle {100 * max(0.0, 1 - busy):.0f} % of both cores.")


for base, sc in THREADS:
    sat = median_of(sc, "parley", lambda r: (r["relay_cpu_s"] + r["loadgen_cpu_s"]) / (2 * r["elapsed_s"])
                    if r.get("elapsed_s") else None)
    one_cpu = median(base, "parley", "relay_cpu_us_per_delivery")
    two_cpu = median(sc, "parley", "relay_cpu_us_per_delivery")
    if None not in (sat, one_cpu, two_cpu):
        s(f"- **Scenario {base[0]} on two threads**: the relay and the load generator together used "
          f"{100 * sat:.0f} % of both cores, so a second relay thread can only take what the load generator "
          f"leaves; " + (f"and the relay's CPU per delivery went from {one_cpu:.2f} to {two_cpu:.2f} µs (its "
                        f"threads hand frames across cores)" if two_cpu > 1.05 * one_cpu else
                        f"the relay's CPU per delivery was {one_cpu:.2f} µs on one thread and {two_cpu:.2f} on two")
          + f". A second core of its own would show the relay's scaling; this machine "
          f"has two.{profile_sentence(profiles.get(sc))}")
s("")
lines += summary

# --- every run ---------------------------------------------------------------------------
p("## Every run")
p("")
EXTRA = {
    "1-throughput-threads2": "1, parley-relay on two threads (cores 0 and 1, load generator on core 1, 10 s drain)",
    "4-rooms-1000x5-threads2": "4, parley-relay on two threads (cores 0 and 1, load generator on core 1, 10 s drain)",
    MEMORY: "4, parley-relay on the in-memory store (`--store memory`)",
    S7: "7. A relay's real day: rooms of 2–12 members, Poisson arrivals, wss, durable",
}
for sc, title in list(SCENARIOS.items()) + list(EXTRA.items()):
    if sc not in SCENARIOS and not any(key[0] == sc for key in by):
        continue
    p(f"### {title}")
    p("")
    p("| relay | sent | expected | delivered | lost | deliveries/s | p50 µs | p90 µs | p99 µs | max µs | "
      "relay CPU s | µs/delivery | loadgen CPU s | disconnects |")
    p("|---|" + "---:|" * 13)
    for k in RELAYS:
        for r in by.get((sc, k), []):
            if r is None:
                p(f"| {k} | failed (see build/bench/results/loadgen.log) |" + " |" * 12)
                continue
            p(f"| {k} | {r['sent']:,} | {r['expected']:,} | {r['delivered']:,} | {r['lost']:,} | "
              f"{r['deliveries_per_s']:,.0f} | {r['p50_us']:,.0f} | {r['p90_us']:,.0f} | {r['p99_us']:,.0f} | "
              f"{r['max_us']:,.0f} | {r['relay_cpu_s']:.2f} | {r['relay_cpu_us_per_delivery']:.2f} | "
              f"{r['loadgen_cpu_s']:.2f} | {r['disconnects']} |")
    p("")
if any(key[0] == S7 for key in by):
    p("### 7. Set-up and relay memory, every run")
    p("")
    p("| relay | rooms | connections | set-up s | fixture s | connect s | publish s | join s | RSS before KiB | "
      "RSS after set-up KiB | RSS at the end KiB |")
    p("|---|" + "---:|" * 10)
    for k in S7_RELAYS:
        for r in by.get((S7, k), []):
            if r is None:
                p(f"| {k} | failed |" + " |" * 9)
                continue
            p(f"| {k} | {r['rooms']:,} | {r['connections']:,} | {r['setup_s']:.1f} | {r['fixture_s']:.1f} | "
              f"{r['connect_s']:.1f} | {r['publish_s']:.1f} | {r['join_s']:.1f} | {r['rss_before_kib']:,} | "
              f"{r['rss_setup_kib']:,} | {r['rss_end_kib']:,} |")
    p("")
p("### The bare fan-out (parley-fanout-floor), every run")
p("")
p("| scenario | connections | copies a message | messages/s | arrivals | bytes a copy | copies | lost | p50 µs | p90 µs | p99 µs | max µs | CPU µs/send |")
p("|---|" + "---:|" * 3 + "---|" + "---:|" * 8)
for sc in ("2-latency-100", "3-latency-1000", S7):
    for r in by.get((sc, "floor"), []):
        p(f"| {sc} | {r['members']:,} | {r.get('copies_per_message', r['members']):,.2f} | {r['rate']:,.0f} | "
          f"{r.get('arrivals', 'fixed')} | {r['wire_bytes']:,} | {r['delivered']:,} | {r['lost']:,} | "
          f"{r['p50_us']:,.0f} | {r['p90_us']:,.0f} | {r['p99_us']:,.0f} | {r['max_us']:,.0f} | {r['send_cpu_us']:.2f} |")
p("")
p("### 5. Idle connections, joined (rooms of 100), relay resident memory")
p("")
p("| run | relay | RSS before KiB | RSS after KiB | bytes/connection | disconnects |")
p("|---|---|---:|---:|---:|---:|")
for n in (1000, 5000):
    for t in ("plain", "tls"):
        sc = f"5-idle-{n}-{t}"
        for k in RELAYS:
            for r in by.get((sc, k), []):
                if r is None:
                    p(f"| {sc} | {k} | failed | | | |")
                    continue
                p(f"| {sc} | {k} | {r['rss_before_kib']:,} | {r['rss_after_kib']:,} | "
                  f"{r['bytes_per_connection']:,.0f} | {r['disconnects']} |")
p("")
p("### Crypto benchmark (Google Benchmark, every repetition)")
p("")
p("| benchmark | real time | CPU time | items/s |")
p("|---|---:|---:|---:|")
for b in crypto["benchmarks"]:
    if b.get("run_type") == "aggregate":
        continue
    ips = f"{b['items_per_second']:,.0f}" if "items_per_second" in b else "—"
    p(f"| {b['name']} | {b['real_time']:,.1f} {b['time_unit']} | {b['cpu_time']:,.1f} {b['time_unit']} | {ips} |")
p("")
p("chat.py reference (messages/s): " + ", ".join(f"{k} {v:,.0f}" for k, v in py.items()))
print("\n".join(lines))
