#!/usr/bin/env bash
# Usage: scripts/demo.sh BUILD_DIR
# A three-person Parley demo on loopback: three "flash drives" (alice/, bob/,
# charlie/), a relay, a room alice creates and bob and charlie join with her
# invite, a short conversation, and what each person saw.
# Exits non-zero if anyone missed a message.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build="$(cd "$1" && pwd)"
parley="$build/parley"
relay_bin="$build/parley-relay"
for bin in "$parley" "$relay_bin"; do
    [[ -x "$bin" ]] || { echo "demo: missing $bin (run make build)" >&2; exit 1; }
done

work="$(mktemp -d -t parley-demo.XXXXXX)"
relay_pid=""
listener_pids=()
cleanup() {
    local pid
    for pid in "${listener_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    if [[ -n "$relay_pid" ]]; then
        kill -TERM "$relay_pid" 2>/dev/null || true
        wait "$relay_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

export HOME="$work/home"
mkdir -p "$HOME"
export PARLEY_PASSWORD="demo password: correct horse battery staple"
people=(alice bob charlie)
room="demo"

# wait_for FILE PATTERN SECONDS: poll FILE until PATTERN shows up
wait_for() {
    local file="$1" pattern="$2" seconds="$3" i
    for ((i = 0; i < seconds * 10; i++)); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "demo: timed out waiting for '$pattern' in $file" >&2
    cat "$file" >&2 || true
    return 1
}

echo "== three flash drives in $work"
for p in "${people[@]}"; do
    mkdir -p "$work/$p"
    "$parley" keygen --user "$p" --dir "$work/$p" </dev/null | sed "s/^/   [$p] /"
done
for p in "${people[@]}"; do
    for q in "${people[@]}"; do
        [[ "$p" == "$q" ]] || cp "$work/$q/public_keys/$q.pem" "$work/$p/public_keys/$q.pem"
    done
done

echo "== relay on loopback"
"$relay_bin" --listen 127.0.0.1:0 --metrics-listen off 2>"$work/relay.log" &
relay_pid=$!
wait_for "$work/relay.log" "parley-relay: listening on" 20
server="$(sed -n 's/.*parley-relay: listening on \(wss\{0,1\}:\/\/[^ ]*\).*/\1/p' "$work/relay.log" | head -n1)"
echo "   $server"

member_args() {  # member_args NAME: whose key and state
    echo --user "$1" --dir "$work/$1" --state "$work/$1/state"
}
room_args() {  # room_args NAME: a room this device knows (no --server: it is stored)
    echo --user "$1" --dir "$work/$1" --state "$work/$1/state" --room "$room"
}

echo "== alice creates room '$room'"
# create prints progress on stderr and the invite alone on its last stdout line
# shellcheck disable=SC2046
if ! "$parley" create $(room_args alice) --server "$server" </dev/null \
        >"$work/create.out" 2>"$work/create.err"; then
    echo "demo: alice could not create the room:" >&2
    cat "$work/create.err" >&2
    exit 1
fi
sed 's/^/   /' "$work/create.err"
invite="$(tail -1 "$work/create.out")"
if [[ "$invite" != parley-invite:* ]]; then
    echo "demo: create printed no invite (stdout: '$(cat "$work/create.out")')" >&2
    exit 1
fi
echo "   invite: $invite"

for p in bob charlie; do
    echo "== $p joins with alice's invite"
    # shellcheck disable=SC2046
    if ! "$parley" join "$invite" $(member_args "$p") </dev/null >"$work/join.out" 2>"$work/join.err"; then
        echo "demo: $p could not join:" >&2
        cat "$work/join.err" >&2
        exit 1
    fi
    sed 's/^/   /' "$work/join.err" "$work/join.out"
done

# the scripted conversation: "speaker|text", spoken in turn
conversation=(
    "alice|hi both, is this thing on?"
    "bob|loud and clear"
    "charlie|same here. the relay can't read this, right?"
    "alice|right: it only sees ciphertext"
    "bob|nice. dinner on friday?"
    "charlie|friday works"
    "alice|see you then"
)
total=${#conversation[@]}

echo "== listeners for bob, charlie and alice"
for p in bob charlie alice; do
    # shellcheck disable=SC2046
    "$parley" listen $(room_args "$p") --count "$total" --timeout 60 \
        >"$work/$p.jsonl" 2>"$work/$p.err" </dev/null &
    listener_pids+=($!)
done
for p in bob charlie alice; do
    wait_for "$work/$p.err" "joined" 30
done

echo "== conversation"
for line in "${conversation[@]}"; do
    speaker="${line%%|*}"
    text="${line#*|}"
    # shellcheck disable=SC2046
    if ! printf '%s\n' "$text" | "$parley" send $(room_args "$speaker") 2>"$work/send.err"; then
        echo "demo: $speaker could not send:" >&2
        cat "$work/send.err" >&2
        exit 1
    fi
    echo "   $speaker sent: $text"
done

status=0
for i in "${!listener_pids[@]}"; do
    wait "${listener_pids[$i]}" || status=1
done
listener_pids=()

printf '%s\n' "${conversation[@]}" >"$work/expected.txt"
python3 - "$work" "$work/expected.txt" bob charlie alice <<'PY' || status=1
import datetime, json, sys
work, expected_file, people = sys.argv[1], sys.argv[2], sys.argv[3:]
expected = [tuple(l.rstrip("\n").split("|", 1)) for l in open(expected_file) if l.strip()]
ok = True
for person in people:
    print(f"\n[{person}'s screen]")
    seen = []
    for raw in open(f"{work}/{person}.jsonl"):
        if not raw.strip():
            continue
        m = json.loads(raw)
        if m.get("status") != "ok":
            print(f"  !! {m.get('status')}: {m.get('reason')}")
            continue
        t = m.get("time")
        try:
            clock = (datetime.datetime.fromtimestamp(float(t)).strftime("%H:%M:%S")
                     if isinstance(t, (int, float)) else
                     datetime.datetime.fromisoformat(str(t).replace("Z", "+00:00"))
                     .astimezone().strftime("%H:%M:%S"))
        except ValueError:
            clock = str(t)
        me = " (you)" if m.get("own") else ""
        print(f"  {clock} {m['from']}{me}: {m['text']}")
        seen.append((m["from"], m["text"]))
    missing = [e for e in expected if e not in seen]
    if missing or len(seen) != len(expected):
        ok = False
        print(f"  !! {person} missed {missing} (saw {len(seen)} of {len(expected)})")
sys.exit(0 if ok else 1)
PY

echo
echo "== fingerprints (compare these out of band)"
"$parley" fingerprint --dir "$work/alice"

echo
if [[ $status -eq 0 ]]; then
    echo "== demo ok: everyone saw all $total messages"
else
    echo "== demo FAILED: someone missed a message (logs: $work/*.err)" >&2
    for p in bob charlie alice; do
        sed "s/^/   [$p stderr] /" "$work/$p.err" >&2 || true
    done
fi

kill -TERM "$relay_pid"
if wait "$relay_pid"; then relay_status=0; else relay_status=$?; fi
relay_pid=""
if [[ $relay_status -ne 0 ]]; then
    echo "demo: relay exited with $relay_status after SIGTERM" >&2
    status=1
fi
exit "$status"
