#!/usr/bin/env bash
# Daemon benchmarks (issue 6), measured in one run beside `inotifywait -m -r`:
#   1. time and RSS to establish watches on a tree of DIRS directories (default 10000);
#   2. latency from the last write to the committed version, beyond `settle`, for a
#      1-file change in trees of 10k and 100k files;
#   3. events per second sustained without losing a change (a burst of creates, then the
#      newest version must hold every file);
#   4. idle RSS, CPU and wakeups (context switches) over IDLE seconds.
# Usage: bench/daemon.sh [WORKDIR]   (needs inotify-tools, python3, a release build)
#        bench/daemon.sh start [WORKDIR]   issue 12's start/latency medians (see below)
# Prints Markdown table rows on stdout; details go to stderr.
set -euo pipefail

BIN=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/reverberator}
MODE=all
if [ "${1:-}" = start ]; then MODE=start; shift; fi
WORK=${1:-$(mktemp -d /tmp/rvb-bench.XXXXXX)}
DIRS=${DIRS:-10000}
IDLE=${IDLE:-10}
SETTLE_MS=200
mkdir -p "$WORK"
log() { echo "[bench] $*" >&2; }
now_ms() { date +%s%3N; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# A tree of N directories (100 per level-1 folder) holding F files in total.
make_tree() { # root dirs files
  python3 - "$1" "$2" "$3" <<'EOF'
import os, sys
root, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(root, exist_ok=True)
paths = []
for i in range(dirs):
    p = os.path.join(root, f"d{i // 100:03d}", f"e{i % 100:02d}")
    os.makedirs(p, exist_ok=True)
    paths.append(p)
for j in range(files):
    with open(os.path.join(paths[j % len(paths)], f"f{j}"), "w") as f:
        f.write(f"file {j}\n")
EOF
}

write_config() { # config source vault
  cat >"$1" <<EOF
[jobs.bench]
source = "$2"
vault = "$3"
settle = "${SETTLE_MS}ms"
max_settle = "10s"
rescan_interval = "0"
EOF
}

# Start the daemon on config $1, log to $2; sets DPID; waits until `status` says watching.
start_daemon() {
  RUST_LOG=info "$BIN" --config "$1" run 2>"$2" &
  DPID=$!
  for _ in $(seq 1 30000); do
    if "$BIN" --config "$1" status 2>/dev/null | grep -q "bench: watching"; then return 0; fi
    sleep 0.01
  done
  log "daemon did not reach watching"; cat "$2" >&2; return 1
}
stop_daemon() { kill -TERM "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true; }
latest() { readlink "$1/bench/latest" 2>/dev/null || true; }

# Issue 12's figures: `bench/daemon.sh start [WORKDIR]` ------------------------------------
# RUNS (default 7) runs on one tree of FILES (default 100000) files in FILES/100 folders:
#  a. start to `watching` of a daemon whose job already has its V0 (watches + the start
#     delta scan that finds nothing), beside `inotifywait -m -r` until "Watches
#     established" plus a `find` walk of the same tree, run one after the other;
#  b. a 1-file change: last write -> committed version, beyond settle.
# Medians with min-max; CPU (user+sys, from /proc) beside wall; load average printed.
# About 3 minutes on a quiet 2-core machine (most of it making the tree and V0).
median_spread() { # numbers... -> "median (min-max)"
  printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : int((v[NR/2]+v[NR/2+1])/2); printf "%d (%d-%d)", m, v[1], v[NR]}'
}
cpu_ms() { # pid -> user+sys ms (clock ticks of 10 ms)
  read -r _ _ _ _ _ _ _ _ _ _ _ _ _ u s _ < "/proc/$1/stat"; echo $(( (u + s) * 10 ))
}
if [ "$MODE" = start ]; then
  RUNS=${RUNS:-7}; FILES=${FILES:-100000}
  T="$WORK/start-tree"; V="$WORK/start-vault"; rm -rf "$T" "$V"; mkdir -p "$V"
  log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  log "making $FILES files in $((FILES / 100)) folders"
  make_tree "$T" $((FILES / 100)) "$FILES"
  write_config "$WORK/c-start.toml" "$T" "$V"
  log "first start (makes V0)"
  start_daemon "$WORK/c-start.toml" "$WORK/d-start0.log"; stop_daemon
  rv=(); rvc=(); iw=(); iwc=(); lat=()
  for r in $(seq 1 "$RUNS"); do
    t0=$(now_ms)
    inotifywait -m -r "$T" 2>"$WORK/iw.err" >/dev/null &
    IWPID=$!
    until grep -q "Watches established" "$WORK/iw.err" 2>/dev/null; do sleep 0.002; done
    c=$(cpu_ms $IWPID)
    f0=$(date +%s%N); fc0=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
    find "$T" >/dev/null
    fc1=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
    iw+=($(( $(now_ms) - t0 ))); iwc+=($(( c + (fc1 - fc0) * 10 )))
    kill $IWPID; wait $IWPID 2>/dev/null || true
    t0=$(now_ms)
    start_daemon "$WORK/c-start.toml" "$WORK/d-start$r.log"
    rv+=($(( $(now_ms) - t0 ))); rvc+=($(cpu_ms $DPID))
    sleep 0.3
    before=$(latest "$V"); t1=$(now_ms)
    echo "change $r" >>"$T/d000/e00/f0"
    while [ "$(latest "$V")" = "$before" ]; do sleep 0.001; done
    lat+=($(( $(now_ms) - t1 - SETTLE_MS )))
    stop_daemon
    log "run $r: inotifywait+find ${iw[-1]} ms (cpu ${iwc[-1]}), reverberator ${rv[-1]} ms (cpu ${rvc[-1]}), change ${lat[-1]} ms beyond settle"
  done
  m_iw=$(median_spread "${iw[@]}"); m_rv=$(median_spread "${rv[@]}")
  ratio=$(awk -v a="${m_rv%% *}" -v b="${m_iw%% *}" 'BEGIN {printf "%.2f", a / b}')
  echo "| start to watching, $FILES files, V0 present, $RUNS runs | inotifywait -m -r + find: $m_iw ms wall, CPU $(median_spread "${iwc[@]}") ms | reverberator: $m_rv ms wall, CPU $(median_spread "${rvc[@]}") ms; ratio of medians ${ratio}x |"
  echo "| 1-file change, $FILES files, $RUNS runs | last write -> committed, beyond settle: $(median_spread "${lat[@]}") ms | settle ${SETTLE_MS} ms |"
  log "load average after: $(cut -d' ' -f1-3 /proc/loadavg); work dir: $WORK"
  exit 0
fi

# 1. watch setup on DIRS directories ---------------------------------------------------
T1="$WORK/watch-tree"; rm -rf "$T1"; make_tree "$T1" "$DIRS" 0
log "inotifywait -m -r on $DIRS dirs"
start=$(now_ms)
inotifywait -m -r "$T1" 2>"$WORK/iw.err" >/dev/null &
IWPID=$!
until grep -q "Watches established" "$WORK/iw.err" 2>/dev/null; do sleep 0.002; done
iw_ms=$(( $(now_ms) - start ))
iw_rss=$(rss_kib $IWPID)
read -r _ _ _ _ _ _ _ _ _ _ _ _ _ iu is _ < "/proc/$IWPID/stat"
iw_cpu=$(( (iu + is) * 10 ))
kill $IWPID; wait $IWPID 2>/dev/null || true

log "reverberator on the same tree"
V1="$WORK/vault1"; rm -rf "$V1"; mkdir -p "$V1"
write_config "$WORK/c1.toml" "$T1" "$V1"
start_daemon "$WORK/c1.toml" "$WORK/d1.log"
rv_setup=$(grep -o 'watching [^(]*([^)]*)' "$WORK/d1.log" | head -1 | grep -o '([^)]*)' | tr -d '()')
rv_rss=$(rss_kib $DPID)
rv_hwm=$(hwm_kib $DPID)
echo "| watch setup, $DIRS dirs | inotifywait -m -r: ${iw_ms} ms wall incl. process start, ${iw_cpu} ms CPU, $((iw_rss / 1024)) MiB RSS | reverberator: ${rv_setup} (Watcher::new only), $((rv_rss / 1024)) MiB RSS after V0 (peak $((rv_hwm / 1024)) MiB) |"

# 4. idle ----------------------------------------------------------------------------------
sleep 1
read -r _ _ _ _ _ _ _ _ _ _ _ _ _ ut st _ < "/proc/$DPID/stat"
cs0=$(awk '/ctxt_switches/ {s += $2} END {print s}' "/proc/$DPID/status")
sleep "$IDLE"
read -r _ _ _ _ _ _ _ _ _ _ _ _ _ ut2 st2 _ < "/proc/$DPID/stat"
cs1=$(awk '/ctxt_switches/ {s += $2} END {print s}' "/proc/$DPID/status")
echo "| idle ${IDLE} s, $DIRS dirs watched | CPU $(( (ut2 + st2 - ut - st) * 10 )) ms, $((cs1 - cs0)) context switches (all threads), RSS $(( $(rss_kib $DPID) / 1024 )) MiB | |"
stop_daemon

# 2. latency at 10k and 100k files ---------------------------------------------------------
for FILES in 10000 100000; do
  T="$WORK/lat-$FILES"; V="$WORK/vault-$FILES"; rm -rf "$T" "$V"; mkdir -p "$V"
  make_tree "$T" $((FILES / 100)) "$FILES"
  write_config "$WORK/c-$FILES.toml" "$T" "$V"
  start_daemon "$WORK/c-$FILES.toml" "$WORK/d-$FILES.log"
  total=0; runs=5; worst=0
  for r in $(seq 1 $runs); do
    before=$(latest "$V")
    t0=$(now_ms)
    echo "change $r" >>"$T/d000/e00/f0"
    while [ "$(latest "$V")" = "$before" ]; do sleep 0.001; done
    lat=$(( $(now_ms) - t0 - SETTLE_MS ))
    total=$((total + lat)); [ $lat -gt $worst ] && worst=$lat
    sleep 0.3
  done
  commit=$(grep -o 'snapshot: committed .* in [0-9.]*[mµ]*s' "$WORK/d-$FILES.log" | tail -1 | grep -o 'in .*')
  echo "| 1-file change, $FILES files | last write -> committed, beyond settle: mean $((total / runs)) ms, worst $worst ms over $runs runs | worker time of the last commit: ${commit} |"
  stop_daemon
done

# 3. sustained events ----------------------------------------------------------------------
T="$WORK/burst"; V="$WORK/vault-burst"; rm -rf "$T" "$V"; mkdir -p "$T" "$V"
write_config "$WORK/c-burst.toml" "$T" "$V"
start_daemon "$WORK/c-burst.toml" "$WORK/d-burst.log"
N=20000
t0=$(now_ms)
python3 - "$T" "$N" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"b{i // 1000:02d}")
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}"), "w") as f:
        f.write("x")
EOF
t1=$(now_ms)
ok=0
for _ in $(seq 1 600); do
  n=$(find "$V/bench/latest/" -type f 2>/dev/null | wc -l)
  [ "$n" -ge "$N" ] && { ok=1; break; }
  sleep 0.1
done
overflow=$(grep -c "overflow" "$WORK/d-burst.log" || true)
echo "| $N creates in $((t1 - t0)) ms ($(( N * 1000 / (t1 - t0 + 1) )) events/s, each create is CREATE+MODIFY+CLOSE_WRITE) | newest version holds all $N: $([ $ok = 1 ] && echo yes || echo NO) | queue overflows (rescans): $overflow |"
stop_daemon
log "work dir: $WORK"
