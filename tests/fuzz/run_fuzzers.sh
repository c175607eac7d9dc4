#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 60), one after another.
#
#   tests/fuzz/run_fuzzers.sh [SECONDS] [BUILD_DIR]      (make fuzz / make fuzz-smoke)
#
# Each target starts from the committed seeds (tests/fuzz/corpus/<target>, read
# only) plus a working corpus in BUILD_DIR/corpus/<target> that grows between
# runs. A crash, leak, timeout or failed property leaves its input in
# BUILD_DIR/artifacts/ and fails the script once every target has run.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

seconds="${1:-60}"
# FUZZ_SEED: libFuzzer's -seed (0, the default, picks one at random). CI sets a
# fixed one (make fuzz-smoke): there the targets replay the committed corpus
# and mutate it the same way on every run, so CI gives the same answer twice;
# exploring new inputs is `make fuzz` in a session, and every crash it finds
# becomes a committed corpus file and a test.
seed="${FUZZ_SEED:-0}"
build="${2:-build/fuzz}"
bin="$build/tests/fuzz"
targets=(frames envelope record chain receiver pem_private pem_public display_text config invite device pem_device)

mkdir -p "$build/artifacts" "$build/logs"
failed=()
for t in "${targets[@]}"; do
    if [[ ! -x "$bin/fuzz_$t" ]]; then
        echo "fuzz: $bin/fuzz_$t is missing (build the 'fuzz' preset first)" >&2
        exit 1
    fi
    mkdir -p "$build/corpus/$t"
    log="$build/logs/$t.log"
    start=$SECONDS
    touch "$build/logs/$t.start"
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a memory blow-up.
    # setsid: no controlling terminal, so OpenSSL's pass-phrase prompt (an
    # encrypted PEM) fails at once instead of waiting for someone to type.
    setsid -w "$bin/fuzz_$t" -seed="$seed" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
        "$build/corpus/$t" "tests/fuzz/corpus/$t" </dev/null >"$log" 2>&1
    rc=$?
    runs="$(grep -o '^stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1)"
    if [[ $rc -ne 0 ]]; then
        failed+=("$t")
        echo "fuzz: $t FAILED after $((SECONDS - start)) s (exit $rc); log $log"
        grep -E 'ERROR|SUMMARY|fuzz property failed|Test unit written|^    #[0-9]+ ' "$log" | head -40 |
            sed 's/^/fuzz:   /'
        # The input itself, so a failure on another machine (CI) can be replayed here:
        # base64 -d > crash && fuzz_<target> crash
        find "$build/artifacts" -name "$t-*" -newer "$build/logs/$t.start" | while read -r artifact; do
            size=$(stat -c %s "$artifact")
            echo "fuzz:   $(basename "$artifact"), $size bytes, base64$( ((size > 8192)) && echo " of the first 8192 (replay from the artifact)"):"
            head -c 8192 "$artifact" | base64 -w 100 | sed 's/^/fuzz:     /'
        done
    else
        echo "fuzz: $t ok, ${runs:-?} runs in $((SECONDS - start)) s, ${cov:-cov: ?}"
    fi
done

if [[ ${#failed[@]} -ne 0 ]]; then
    echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}"
    echo "fuzz: reproduce with $bin/fuzz_<target> <artifact> (or the base64 above, decoded to a file)"
    exit 1
fi
echo "fuzz: all ${#targets[@]} targets ok (${seconds} s each)"
