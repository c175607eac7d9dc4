#!/usr/bin/env python3
"""bench/CLUSTER-RESULTS.md from bench/cluster.sh's runs (issue 14).

Usage: cluster_report.py OUT_DIR DURATION RUNS. Reads OUT_DIR/runs.jsonl (one
JSON object per run: the load generator's result, the database's commits and
CPU over the timed part, the bytes stored) and prints Markdown: per scenario
and configuration the median of the runs, each against the SQLite relay of the
same run, then every run.
"""
import json
import statistics
import sys
from pathlib import Path

CONFIGS = ["sqlite", "pg1", "pg2", "pg3"]
NAMES = {"sqlite": "SQLite, 1 relay", "pg1": "PostgreSQL, 1 node", "pg2": "PostgreSQL, 2 nodes",
         "pg3": "PostgreSQL, 3 nodes"}


def load(out: Path) -> list:
    return [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line.strip()]


def figures(run: dict) -> dict:
    r = run["result"]
    sent = max(r["sent"], 1)
    delivered = max(r["delivered"], 1)
    window = max(run.get("window_s", 0), 1e-9)
    stored = run.get("stored") or {}
    items = max(stored.get("log_items") or 0, 1)
    f = {
        "deliveries_per_s": r["deliveries_per_s"],
        "p50_us": r["p50_us"],
        "p99_us": r["p99_us"],
        "lost": r["lost"],
        "sent": r["sent"],
        "relay_us_per_delivery": r["relay_cpu_us_per_delivery"],
        "server_us_per_message": (r["relay_cpu_s"] + run.get("db_cpu_s", 0)) * 1e6 / sent,
        "store_bytes_per_item": (stored.get("store_bytes") or 0) / items,
        "log_bytes_per_item": (stored["log_bytes"] / items) if stored.get("log_bytes") else None,
    }
    if run["config"].startswith("pg"):
        f["db_us_per_message"] = run["db_cpu_s"] * 1e6 / sent
        f["transactions_per_s"] = run["db_commits"] / window
        f["flushes_per_s"] = run.get("db_wal_syncs", 0) / window
        f["messages_per_flush"] = r["sent"] / max(run.get("db_wal_syncs", 0), 1)
    return f


def median(runs: list, key: str):
    values = [figures(r)[key] for r in runs if figures(r).get(key) is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0) -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def main() -> None:
    out, duration, runs_n = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    runs = [r for r in load(out) if r.get("result")]
    failed = [r for r in load(out) if not r.get("result")]
    scenarios = (out / "scenarios.txt").read_text().splitlines()
    source = (out / "source.txt").read_text().strip()
    pg_version = (out / "postgres-version.txt").read_text().strip()
    print("# Relay cluster benchmark (issue 14)\n")
    print(f"Written by `bench/cluster.sh` (`make bench-cluster`) from {source}, {pg_version}; "
          f"{duration} s of sending per run, the median of {runs_n} runs. Every relay and the database "
          "run on core 0, the load generator on core 1: two cores cannot show nodes scaling, so these "
          "figures are what a node and the database *cost* (docs/SCALING.md turns them into a capacity "
          "model). PostgreSQL runs with its defaults (fsync and synchronous_commit on: an Ack means the "
          "message is on disk); the SQLite relay with its default `--sync normal` (WAL: an Ack survives a "
          "relay crash, not a power cut). With N nodes, client c connects to node c % N, so every room has "
          "members on every node.\n")
    print("Scenarios (parley-loadgen arguments):\n")
    for line in scenarios:
        name, _, args = line.partition(": ")
        print(f"- **{name}**: `{args}`")
    print()
    print("## Summary\n")
    for scenario in ("rooms", "latency"):
        mine = [r for r in runs if r["scenario"] == scenario]
        if not mine:
            continue
        base = median([r for r in mine if r["config"] == "sqlite"], "deliveries_per_s")
        print(f"### {scenario}\n")
        print("| store | deliveries/s | vs SQLite | p50 µs | p99 µs | lost | relay CPU µs/delivery | "
              "server CPU µs/message | DB CPU µs/message | WAL flushes/s | messages/flush | "
              "stored bytes/message | log bytes/message |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for config in CONFIGS:
            c = [r for r in mine if r["config"] == config]
            if not c:
                continue
            d = median(c, "deliveries_per_s")
            print(f"| {NAMES[config]} | {fmt(d)} | {fmt(d / base if base else None, 2)}× | {fmt(median(c, 'p50_us'))} | "
                  f"{fmt(median(c, 'p99_us'))} | {fmt(median(c, 'lost'))} | {fmt(median(c, 'relay_us_per_delivery'), 2)} | "
                  f"{fmt(median(c, 'server_us_per_message'), 1)} | {fmt(median(c, 'db_us_per_message'), 1)} | "
                  f"{fmt(median(c, 'flushes_per_s'))} | "
                  f"{fmt(median(c, 'messages_per_flush'), 1)} | "
                  f"{fmt(median(c, 'store_bytes_per_item'))} | {fmt(median(c, 'log_bytes_per_item'))} |")
        print()
    print("Server CPU per message is every relay's CPU and the database's together over the timed part, "
          "divided by the messages sent. WAL flushes are the database's fsyncs of its log, what durable commits "
          "cost (PostgreSQL flushes the commits waiting at that moment together). Stored bytes per message is the whole store (the SQLite file and "
          "its WAL, or the PostgreSQL database) over the log's items at the end of a run, log bytes the "
          "PostgreSQL `log` table with its indexes.\n")
    if failed:
        print(f"**{len(failed)} run(s) failed**: " + ", ".join(f"{r['scenario']}/{r['config']}" for r in failed) + "\n")
    print("## Every run\n")
    print("| scenario | store | deliveries/s | p99 µs | lost | relay CPU s | DB CPU s | WAL flushes | window s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        res = r["result"]
        print(f"| {r['scenario']} | {r['config']} | {fmt(res['deliveries_per_s'])} | {fmt(res['p99_us'])} | "
              f"{res['lost']} | {res['relay_cpu_s']:.2f} | {r.get('db_cpu_s', 0):.2f} | {r.get('db_wal_syncs', 0)} | "
              f"{r.get('window_s', 0):.1f} |")


if __name__ == "__main__":
    main()
