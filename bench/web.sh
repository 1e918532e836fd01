#!/usr/bin/env bash
# Benchmark `reverberator serve`'s version page over a folder of 100k entries: the first
# page and a late page (500 entries a page), timed with curl, against what a user would
# otherwise run on the same folder in the same session:
#   python3 -m http.server   (a directory listing over HTTP: one page of every name)
#   ls -l                    (a terminal listing; stat of every entry)
# Each is run RUNS times (default 7) after one warm-up; the report gives the median and the
# spread (min-max) of the wall time, and the server's CPU time per request (user+sys from
# /proc/PID/stat over the RUNS requests, divided by RUNS).
#
# usage: bench/web.sh              (ENTRIES=100000 RUNS=7; ~2 min on 2 cores)
# Output: a markdown report on stdout, progress on stderr.
set -euo pipefail

ENTRIES=${ENTRIES:-100000}
RUNS=${RUNS:-7}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN="$HERE/target/release/reverberator"
BASE=${BASE:-/tmp/rvb-web}
PIDS=()

log() { echo "[bench] $*" >&2; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$BASE"
}
trap cleanup EXIT

(cd "$HERE" && cargo build --release --quiet)
rm -rf "$BASE"
mkdir -p "$BASE/src/big" "$BASE/vault"
cp "$BIN" "$BASE/reverberator"   # this run's binary, whatever is rebuilt meanwhile
BIN="$BASE/reverberator"
printf '[jobs.b]\nsource = "%s/src"\nvault = "%s/vault"\n' "$BASE" "$BASE" >"$BASE/r.toml"
python3 - "$BASE/src/big" "$ENTRIES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(root, f"entry-{i:06d}.txt"), "wb") as f:
        f.write(b"x" * (i % 100))
PY
log "snapshot of $ENTRIES entries"
"$BIN" -c "$BASE/r.toml" snapshot >/dev/null 2>&1
V0=$(cd "$BASE/vault/b" && ls -d V0--*)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# time_url NAME URL PID: RUNS curl requests; prints a table row.
time_url() {
    local name=$1 url=$2 pid=$3 t0 t1 times bytes
    curl -sf -o /dev/null "$url"   # warm-up
    bytes=$(curl -sf "$url" | wc -c)
    t0=$(ticks "$pid")
    times=$(for _ in $(seq "$RUNS"); do curl -sf -o /dev/null -w '%{time_total}\n' "$url"; done)
    t1=$(ticks "$pid")
    sort -n <<<"$times" | awk -v name="$name" -v n="$RUNS" -v cpu=$(( t1 - t0 )) -v hz="$HZ" -v b="$bytes" '
        { v[NR] = $1 }
        END { printf "| %s | %.3f | %.3f-%.3f | %.3f | %d |\n", name, v[int((n + 1) / 2)], v[1], v[n], cpu / hz / n, b }'
}

# wait_for FILE: the "serving on http://ADDR/" line of serve.
wait_for() {
    for _ in $(seq 200); do
        grep -o 'http://[0-9.:]*' "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "no server address in $1" >&2; cat "$1" >&2; return 1
}

"$BIN" -c "$BASE/r.toml" serve --listen 127.0.0.1:0 >"$BASE/serve.log" 2>&1 &
SPID=$!; PIDS+=("$SPID")
URL="$(wait_for "$BASE/serve.log")/"
LAST=$(( (ENTRIES + 499) / 500 - 1 ))
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$BASE/src" >/dev/null 2>&1 &
PYPID=$!; PIDS+=("$PYPID")
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.05; done

echo "## version page over a folder of $ENTRIES entries ($(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| request | median s | spread s | server CPU s/request | bytes |"
echo "|---|---|---|---|---|"
log "serve, first page"
time_url "serve: first page (500 entries)" "${URL}jobs/b/v/0/big/" "$SPID"
log "serve, page $LAST"
time_url "serve: last page (?page=$LAST)" "${URL}jobs/b/v/0/big/?page=$LAST" "$SPID"
log "python3 -m http.server"
time_url "python3 -m http.server: the folder (all entries)" "http://127.0.0.1:$PORT/big/" "$PYPID"
log "ls -l"
ls -l "$BASE/vault/b/$V0/big" >/dev/null
ls_times=$(for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %U %S' ls -l "$BASE/vault/b/$V0/big" 2>&1 >/dev/null | tail -n 1
done)
sort -n <<<"$ls_times" | awk -v n="$RUNS" '
    { v[NR] = $1; cpu += $2 + $3 }
    END { printf "| ls -l of the folder (terminal) | %.3f | %.3f-%.3f | %.3f (ls itself) | - |\n", v[int((n + 1) / 2)], v[1], v[n], cpu / n }'
echo
echo "RUNS=$RUNS per row after one warm-up; warm cache; wall = curl's time_total."
