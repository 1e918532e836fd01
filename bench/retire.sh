#!/usr/bin/env bash
# Retire benchmark (issue 5): time to retire the oldest version from a vault of VERSIONS versions of
# a FILES-file tree (20-entry folders) with CHANGES modified files per version, beside
# `rm -rf` of one rsync --link-dest snapshot of the same tree (what rsnapshot does to expire
# a snapshot). Warm page cache for both; one filesystem (the one holding $WORK).
#
# Also: retiring a version nothing later shares (a pure delete of FILES files) beside `rm -rf`
# of a plain copy of that same version (the same inodes and blocks to free).
#
# Usage: bench/retire.sh [FILES...]        (default: 10000 100000)
# Usage: bench/retire.sh matrix            (issue 11's whole matrix: 10k and 100k files,
#        VERSIONS 3 30 300, changes spread over the tree and confined to one folder (HOT=20);
#        VERSIONS untimed rounds, then RETIRES = VERSIONS timed ones; long)
# Env:   WORK (default /tmp/retire-bench), VERSIONS (30; a list such as "3 30 300" runs each
#        vault size in turn), CHANGES (100), RETIRES (steady-state rounds, each one new
#        version and one retire of the oldest; default VERSIONS, at least 10),
#        WARM: untimed steady-state rounds before the timed ones (default 0; the matrix
#        uses VERSIONS, so the timed rounds start after every version has been the oldest),
#        HOT: draw the changed files from the first HOT files only (default: all), so the
#        rest of the tree never changes and every later version links into the oldest,
#        BIN (default target/release/reverberator; build it with `cargo build --release`),
#        LOOP_GB: when set (root only), run on a fresh journaled ext4 of that many GB,
#        loop-mounted at $WORK (unmounted at exit).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/reverberator}
WORK=${WORK:-/tmp/retire-bench}
VERSIONS=${VERSIONS:-30}
CHANGES=${CHANGES:-100}
RETIRES_SET=${RETIRES:-}
WARM_SET=${WARM:-}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
if [ -n "${LOOP_GB:-}" ]; then
  mkdir -p "$WORK"
  truncate -s "${LOOP_GB}G" "$WORK.img"
  mkfs.ext4 -F -q -i 4096 "$WORK.img"
  mount -o loop "$WORK.img" "$WORK"
  trap 'umount "$WORK"; rm -f "$WORK.img"' EXIT
  echo "filesystem: $(findmnt -n -o FSTYPE,OPTIONS "$WORK")"
fi


timed() { # OUT CMD...: run CMD; write "wall user sys" seconds to OUT, to the microsecond
  # (GNU time's %U/%S round to 10 ms, which reads 0.00 for a retire of a few ms)
  python3 -c '
import os, sys, time
t = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, r = os.wait4(pid, 0)
open(sys.argv[1], "w").write(f"{time.monotonic() - t:.4f} {r.ru_utime:.4f} {r.ru_stime:.4f}\n")
sys.exit(os.waitstatus_to_exitcode(status))' "$@"
}

make_tree() { # DIR FILES: FILES files of 100 bytes in 20-entry folders
  python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"a{i // 8000}", f"b{(i // 400) % 20}", f"c{(i // 20) % 20}")
    if i % 20 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}"), "w") as f:
        f.write(f"{i:0100d}")
PY
}

change_files() { # DIR FILES SEED: rewrite CHANGES random files (among the first HOT ones)
  python3 - "$1" "$2" "$3" "$CHANGES" "${HOT:-$2}" <<'PY'
import os, random, sys
root, n, seed, k, hot = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rnd = random.Random(seed)
for i in rnd.sample(range(min(n, hot)), min(k, n, hot)):
    p = os.path.join(root, f"a{i // 8000}", f"b{(i // 400) % 20}", f"c{(i // 20) % 20}", f"f{i}")
    with open(p, "w") as f:
        f.write(f"changed {seed} {i}")
PY
}

run_one() { # FILES VERSIONS
  local files=$1 versions=$2 dir="$WORK/$1"
  local RETIRES=${RETIRES_SET:-$(( versions > 10 ? versions : 10 ))}
  rm -rf "$dir"; mkdir -p "$dir/vault"
  make_tree "$dir/src" "$files"
  cat >"$dir/reverberator.toml" <<TOML
[jobs.bench]
source = "$dir/src"
vault = "$dir/vault"
keep_versions = 1000
vault_limit = "0"
TOML
  snap() { # SEED: change files (except for the first version), take a version
    [ "$1" -gt 0 ] && change_files "$dir/src" "$files" "$1"
    "$BIN" --config "$dir/reverberator.toml" snapshot bench >/dev/null
  }
  for v in $(seq 0 $((versions - 2))); do snap "$v"; done
  # Steady state: each round takes one more version (the vault then holds VERSIONS), and
  # `prune` with keep_versions = VERSIONS - 1 retires the oldest of them.
  # Untimed rounds first (WARM, default 0; the matrix uses VERSIONS): the rounds right
  # after the first import are not the steady state (run 8 in BENCHMARKS.md).
  local warm=${WARM_SET:-0} off=0
  for w in $(seq 1 "$warm"); do
    snap $((versions - 2 + w))
    sed -i "s/^keep_versions = .*/keep_versions = $((versions - 1))/" "$dir/reverberator.toml"
    "$BIN" --config "$dir/reverberator.toml" prune bench >/dev/null
    sed -i "s/^keep_versions = .*/keep_versions = 1000/" "$dir/reverberator.toml"
    off=$w
  done
  local times=() cpus=()
  for r in $(seq 1 "$RETIRES"); do
    snap $((versions - 2 + off + r))
    sed -i "s/^keep_versions = .*/keep_versions = $((versions - 1))/" "$dir/reverberator.toml"
    sync
    timed "$dir/time.$r" \
      "$BIN" --config "$dir/reverberator.toml" prune bench >"$dir/prune.$r.out"
    sed -i "s/^keep_versions = .*/keep_versions = 1000/" "$dir/reverberator.toml"
    times+=("$(awk '{print $1}' "$dir/time.$r")")
    cpus+=("$(awk '{printf "%.4f", $2 + $3}' "$dir/time.$r")")
  done
  # rsync --link-dest: a full snapshot, then one with CHANGES changed files; expire the first.
  change_files "$dir/src" "$files" 999
  rsync -a --delete "$dir/src/" "$dir/rs0/"
  change_files "$dir/src" "$files" 1000
  rsync -a --delete --link-dest="$dir/rs0" "$dir/src/" "$dir/rs1/"
  timed "$dir/time.rm" rm -rf "$dir/rs0"
  local rm_time rm_cpu
  rm_time=$(awk '{print $1}' "$dir/time.rm")
  rm_cpu=$(awk '{printf "%.3f", $2 + $3}' "$dir/time.rm")
  # A version nothing later shares (every file changed after it): retiring it is a pure
  # delete of FILES files, against the same `rm -rf`.
  cat >"$dir/full.toml" <<TOML
[jobs.full]
source = "$dir/src"
vault = "$dir/vault"
keep_versions = 1000
vault_limit = "0"
TOML
  "$BIN" --config "$dir/full.toml" snapshot full >/dev/null
  CHANGES=$files HOT=$files change_files "$dir/src" "$files" 2000
  "$BIN" --config "$dir/full.toml" snapshot full >/dev/null
  sed -i "s/^keep_versions = .*/keep_versions = 1/" "$dir/full.toml"
  cp -a "$dir"/vault/full/V0--* "$dir/plain" # the same version as plain files, not a vault
  sync
  timed "$dir/time.plain" rm -rf "$dir/plain"
  timed "$dir/time.full" \
    "$BIN" --config "$dir/full.toml" prune full >"$dir/prune.full.out"
  local plain_time plain_cpu
  plain_time=$(awk '{print $1}' "$dir/time.plain")
  plain_cpu=$(awk '{printf "%.2f", $2 + $3}' "$dir/time.plain")
  local full_time full_cpu
  full_time=$(awk '{print $1}' "$dir/time.full")
  full_cpu=$(awk '{printf "%.2f", $2 + $3}' "$dir/time.full")
  local sorted; sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  local median; median=$(echo "$sorted" | sed -n "$(( (RETIRES + 1) / 2 ))p")
  local first=${times[0]}
  local links; links=$(grep -ho "[0-9]* links\? repointed" "$dir"/prune.[0-9]*.out | awk '{print $1}' | xargs)
  local moved; moved=$(grep -ho "[0-9]* folders\? moved" "$dir"/prune.[0-9]*.out | awk '{print $1}' | xargs)
  echo "files=$files versions=$versions changes=$CHANGES retire_first_s=$first retire_median_s=$median retire_max_s=$(echo "$sorted" | tail -1) rm_rf_linkdest_s=$rm_time rm_rf_cpu_s=$rm_cpu"
  echo "  links repointed per retire: $links"
  echo "  folders moved per retire: $moved"
  echo "  retire of an unshared version (pure delete of $files files): wall ${full_time}s cpu ${full_cpu}s; rm -rf of a plain copy of it: wall ${plain_time}s cpu ${plain_cpu}s"
  sed -n '1s/^/  /p' "$dir/prune.full.out"
  local mean_cpu max_cpu mean_wall
  mean_cpu=$(printf '%s\n' "${cpus[@]}" | awk '{s += $1} END {printf "%.4f", s / NR}')
  max_cpu=$(printf '%s\n' "${cpus[@]}" | sort -n | tail -1)
  mean_wall=$(printf '%s\n' "${times[@]}" | awk '{s += $1} END {printf "%.3f", s / NR}')
  echo "  steady state over $RETIRES retires after ${WARM_SET:-0} untimed ones (hot=${HOT:-all}): mean cpu ${mean_cpu}s, worst cpu ${max_cpu}s, mean wall ${mean_wall}s, worst wall $(echo "$sorted" | tail -1)s"
  # Without the first retire (V0's, the first import: it holds the whole tree) and over
  # the second half of the rounds (every version then is one made in the steady state).
  printf '%s\n' "${cpus[@]}" | awk '{ c[NR] = $1 } END {
    for (i = 2; i <= NR; i++) { a += c[i] } ; h0 = int(NR / 2) + 1
    for (i = h0; i <= NR; i++) { b += c[i] }
    printf "  mean cpu without the first retire %.4fs, over the second half %.4fs\n", a / (NR - 1), b / (NR - h0 + 1) }'
  echo "  per-retire wall seconds: ${times[*]}"
  echo "  per-retire cpu seconds (user+sys): ${cpus[*]}"
  echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  # (no `| head`: under pipefail its SIGPIPE would end the script)
  cat "$dir"/prune.*.out | awk 'n < 3 && /retired/ { print "  " $0; n++ }'
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
}

if [ "${1:-}" = matrix ]; then
  for files in 10000 100000; do
    for hot in "" 20; do
      for versions in 3 30 300; do
        HOT=$hot RETIRES="" RETIRES_SET="" WARM_SET=$versions run_one "$files" "$versions"
      done
    done
  done
  exit 0
fi
[ $# -gt 0 ] || set -- 10000 100000
for files in "$@"; do
  for versions in $VERSIONS; do
    run_one "$files" "$versions"
  done
done
