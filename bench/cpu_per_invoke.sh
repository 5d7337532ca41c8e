#!/bin/bash
# CPU time per warm invoke, by daemon thread and for the runtime process: a no-op
# function (1,769 MB) driven by `wrk -c1` for 5 s; (utime + stime) / invokes from
# /proc. CPU, not latency: steadier than the latency rows on a noisy machine.
#
# Usage: bench/cpu_per_invoke.sh [python3.12|nodejs20.x]   (NIMBUS=path/to/nimbus)
set -euo pipefail
RT=${1:-python3.12}
NIMBUS=${NIMBUS:-build/nimbus}
PORT=${PORT:-8795}
WORK=$(mktemp -d /tmp/nimbus-cpu-XXXXXX)
trap 'kill $NP 2>/dev/null; wait $NP 2>/dev/null; rm -rf "$WORK"' EXIT
"$NIMBUS" serve --listen 127.0.0.1:$PORT --data-dir "$WORK/data" --stem-cells 0 > "$WORK/log" 2>&1 &
NP=$!
for _ in $(seq 50); do grep -q "listening on" "$WORK/log" && break; sleep 0.1; done
mkdir "$WORK/fn"
if [[ $RT == python* ]]; then
  printf 'def handler(e, c):\n    return "ok"\n' > "$WORK/fn/app.py"; H=app.handler
else
  printf 'exports.handler = async () => "ok";\n' > "$WORK/fn/index.js"; H=index.handler
fi
NIMBUS_ENDPOINT=http://127.0.0.1:$PORT "$NIMBUS" deploy noop "$WORK/fn" --runtime "$RT" --handler $H --memory 1769 > /dev/null
URL=http://127.0.0.1:$PORT/2015-03-31/functions/noop/invocations
curl -s -X POST -d '{}' $URL > /dev/null
# The runtime: the child of the sandbox's init, which is the daemon's child.
RPID=""
for init in $(pgrep -P $NP); do RPID=$(pgrep -P "$init" | head -1) && [[ -n $RPID ]] && break; done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
threads() { for t in /proc/$NP/task/*; do echo "$(cat "$t/comm") $(awk '{print $14, $15}' "$t/stat")"; done | sort; }
threads > "$WORK/t0"; r0=$(ticks "$RPID")
wrk -t1 -c1 -d5s -s "$(dirname "$0")/post.lua" $URL > "$WORK/wrk"
threads > "$WORK/t1"; r1=$(ticks "$RPID")
N=$(grep -o '[0-9]* requests' "$WORK/wrk" | awk '{print $1}')
HZ=$(getconf CLK_TCK)
echo "$RT: $N invokes; CPU per invoke (µs):"
paste "$WORK/t0" "$WORK/t1" | awk -v n="$N" -v hz="$HZ" \
  '{u = ($5 - $2) * 1e6 / hz / n; s = ($6 - $3) * 1e6 / hz / n; if (u + s > 0) printf "  daemon %-16s user %4.0f  sys %4.0f\n", $1, u, s}'
awk -v n="$N" -v hz="$HZ" -v a="$r0" -v b="$r1" 'BEGIN { printf "  runtime process          %4.0f (user + sys)\n", (b - a) * 1e6 / hz / n }'
