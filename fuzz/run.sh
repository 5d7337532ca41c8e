#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset, build-fuzz/) and runs each for
# a bounded time on a copy of its seed corpus (fuzz/corpus/<name>/, never
# modified), with its dictionary (fuzz/dict/<name>.dict) when it has one. Fails
# if any target crashes, leaks, runs out of memory or times out.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]    default 10; e.g. fuzz/run.sh 3600
#
# Environment:
#   NIMBUS_FUZZ_TARGETS  space-separated names to run (default: every target)
#   NIMBUS_FUZZ_JOBS     build parallelism (default: the number of CPUs)
#   NIMBUS_FUZZ_TMPDIR   scratch space of the targets that write files (default:
#                        /dev/shm when writable, else $TMPDIR or /tmp)
#   NIMBUS_FUZZ_NO_BUILD set to 1 to run what build-fuzz/ already holds
#
# Each target's grown corpus and log are left in build-fuzz/fuzz-work/<name>/,
# and a failing input in build-fuzz/fuzz-artifacts/<name>/ (fuzz/README.md says
# how to reproduce it).
set -euo pipefail

seconds="${1:-10}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: fuzz/run.sh [seconds-per-target]" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="$root/build-fuzz"

if [ "${NIMBUS_FUZZ_NO_BUILD:-0}" != 1 ]; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
  jobs="${NIMBUS_FUZZ_JOBS:-$(nproc)}"
  mkdir -p "$build"
  cmake --preset fuzz >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
  cmake --build --preset fuzz -j "$jobs"
fi

if [ -n "${NIMBUS_FUZZ_TMPDIR:-}" ]; then
  scratch="$NIMBUS_FUZZ_TMPDIR"
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
  scratch=/dev/shm  # tmpfs: UnpackZip's syncfs costs nothing there
else
  scratch="${TMPDIR:-/tmp}"
fi

if [ -n "${NIMBUS_FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$NIMBUS_FUZZ_TARGETS"
else
  targets=()
  for dir in "$root"/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi

work_root="$build/fuzz-work"
artifacts_root="$build/fuzz-artifacts"
failed=()
printf '%-22s %12s %10s %8s  %s\n' target executions exec/s corpus result
for name in "${targets[@]}"; do
  bin="$build/fuzz/${name}_fuzz"
  seeds="$root/fuzz/corpus/$name"
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    printf '%-22s %12s %10s %8s  %s\n' "$name" - - - "MISSING ($bin or $seeds)"
    failed+=("$name")
    continue
  fi
  work="$work_root/$name"
  artifacts="$artifacts_root/$name"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$artifacts"
  cp "$seeds"/* "$work/corpus/"
  log="$work/fuzz.log"
  dict=()
  [ -f "$root/fuzz/dict/$name.dict" ] && dict=(-dict="$root/fuzz/dict/$name.dict")
  set +e
  TMPDIR="$scratch" "$bin" "$work/corpus" "${dict[@]}" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" >"$log" 2>&1
  rc=$?
  set -e
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)"
  corpus="$(find "$work/corpus" -type f | wc -l)"
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    crash="$(ls -t "$artifacts" 2>/dev/null | head -n1)"
    kind="$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer): [a-zA-Z0-9_-]+' "$log" || true)"
    [ -z "$kind" ] && kind="$(grep -m1 -E 'NIMBUS_FUZZ_CHECK failed|runtime error' "$log" || echo "exit $rc")"
    result="FAILED: $kind; input: $artifacts/$crash"
    failed+=("$name")
  fi
  printf '%-22s %12s %10s %8s  %s\n' "$name" "${execs:--}" "${rate:--}" "$corpus" "$result"
  if [ "$rc" -ne 0 ]; then
    echo "---- last lines of $log ----"
    tail -n 40 "$log"
    echo "----"
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a failure"
