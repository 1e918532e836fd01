#!/usr/bin/env bash
# Benchmark `reverberator log PATH` and `restore --tar` on a 100k-file tree with 300
# versions, against what a user would otherwise run in the same session:
#   log of a file:   for v in V*; do stat V/PATH; done   (identity and size only: no
#                    content-vs-attributes verdict, so it is a floor, not an equal)
#   log of a folder: diff -rq between consecutive versions of the folder
#   tar:             tar -chf - -C V{last} .  (GNU tar, dereferencing the structural links)
# Both tars write into a pipe to `cat >/dev/null` (GNU tar skips reading file data when its
# archive IS /dev/null). Max RSS from /usr/bin/time is reverberator's / tar's own.
#
# usage: bench/logtar.sh [VERSIONS]     (default 300; FILES=100000; ~10 min on 2 cores)
# Output: a markdown report on stdout, progress on stderr. Warm cache (each run twice, the
# second counts).
set -euo pipefail

VERSIONS=${1:-300}
FILES=${FILES:-100000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN="$HERE/target/release/reverberator"
BASE=${BASE:-/tmp/rvb-logtar}

log() { echo "[bench] $*" >&2; }
cleanup() { rm -rf "$BASE"; }
trap cleanup EXIT

(cd "$HERE" && cargo build --release --quiet)
rm -rf "$BASE"
mkdir -p "$BASE/src" "$BASE/vault"
cp "$BIN" "$BASE/reverberator"   # this run's binary, whatever is rebuilt meanwhile
BIN="$BASE/reverberator"
printf '[jobs.b]\nsource = "%s/src"\nvault = "%s/vault"\nkeep_versions = 100000\nvault_limit = "100%%"\n' \
    "$BASE" "$BASE" >"$BASE/r.toml"

# FILES files in 20-entry folders, TTT/MM/LL/fNN.txt, 200..4200 bytes.
python3 - "$BASE/src" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    leaf = i // 20
    d = os.path.join(root, f"{leaf // 400:03d}", f"{(leaf // 20) % 20:02d}", f"{leaf % 20:02d}")
    if i % 20 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i % 20:02d}.txt"), "wb") as f:
        f.write(b"x" * (200 + (i * 7919) % 4000))
PY

TARGET=000/00/00/f00.txt   # changed every 10th version
FOLDER=000/00              # 400 files; changed when TARGET is
snap() { "$BIN" -c "$BASE/r.toml" snapshot >/dev/null 2>&1; }
log "V0 of $FILES files"
snap
for r in $(seq 1 $((VERSIONS - 1))); do
    # 10 files elsewhere each version; TARGET every 10th (content), every 25th chmod.
    python3 - "$BASE/src" "$FILES" "$r" <<'PY'
import os, sys
root, n, r = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for k in range(10):
    i = 400 + (r * 7919 + k * (n // 10)) % (n - 400)
    leaf = i // 20
    p = os.path.join(root, f"{leaf // 400:03d}", f"{(leaf // 20) % 20:02d}", f"{leaf % 20:02d}", f"f{i % 20:02d}.txt")
    with open(p, "ab") as f:
        f.write(b"y")
t = os.path.join(root, "000/00/00/f00.txt")
if r % 10 == 0:
    with open(t, "ab") as f:
        f.write(b"z")
if r % 25 == 0:
    os.chmod(t, 0o600 if (r // 25) % 2 else 0o644)
PY
    snap
    if (( r % 50 == 0 )); then log "V$r"; fi
done
JOB="$BASE/vault/b"
LAST=$(readlink "$JOB/latest")

# timed VAR CMD...: run CMD twice (warm), store "wall maxrss_kb cpu" of the second run.
timed() {
    local var=$1; shift
    local t e m u s
    t=$(mktemp)
    "$@" >/dev/null 2>&1 || true
    /usr/bin/time -f "%e %M %U %S" -o "$t" "$@" >/dev/null
    read -r e m u s <"$t"
    printf -v "$var" '%s %s %s' "$e" "$m" "$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')"
    rm -f "$t"
}
row() { read -r w m c <<<"$2"; printf '| %s | %s | %s | %s |\n' "$1" "$w" "$c" "$((m / 1024))"; }

stat_loop() { for v in "$JOB"/V*; do stat -c '%i %s %Y %a' "$v/$TARGET" 2>/dev/null || echo gone; done; }
diff_loop() {
    local prev=""
    for v in $(ls "$JOB" | grep '^V' | sort -t- -k1.2 -n); do
        if [ -n "$prev" ]; then diff -rq "$JOB/$prev/$FOLDER" "$JOB/$v/$FOLDER" || true; fi
        prev=$v
    done
}
export -f stat_loop diff_loop
export JOB TARGET FOLDER

log "log"
timed LOGF "$BIN" -c "$BASE/r.toml" log b "$TARGET"
timed LOGD "$BIN" -c "$BASE/r.toml" log b "$FOLDER"
timed LOGR "$BIN" -c "$BASE/r.toml" log b .
timed STAT bash -c stat_loop
timed DIFF bash -c diff_loop
entries_f=$("$BIN" -c "$BASE/r.toml" log b "$TARGET" | tail -n +2 | wc -l)
entries_d=$("$BIN" -c "$BASE/r.toml" log b "$FOLDER" | tail -n +2 | wc -l)

log "tar"
timed TARR bash -c "'$BIN' -c '$BASE/r.toml' restore b . --tar - | cat >/dev/null"
timed TARG bash -c "tar -chf - -C '$JOB/$LAST' . | cat >/dev/null"
# Max RSS of the writers alone (the pipelines above report the larger of writer and cat).
/usr/bin/time -f "%M" -o "$BASE/rss_r" "$BIN" -c "$BASE/r.toml" restore b . --tar - 2>/dev/null | cat >/dev/null
/usr/bin/time -f "%M" -o "$BASE/rss_g" tar -chf - -C "$JOB/$LAST" . | cat >/dev/null
rss_r=$(tail -1 "$BASE/rss_r"); rss_g=$(tail -1 "$BASE/rss_g")
size_r=$("$BIN" -c "$BASE/r.toml" restore b . --tar - 2>/dev/null | wc -c)
size_g=$(tar -chf - -C "$JOB/$LAST" . | wc -c)

echo "### log and tar: $FILES files, $VERSIONS versions ($(nproc) cores, $(date -u +%F), machine shared with other builds)"
echo
echo "log: \`$TARGET\` changed in $entries_f versions, \`$FOLDER\` (400 files) in $entries_d."
echo
echo "| command | wall s | CPU s (user+sys) | max RSS MiB |"
echo "|---|---|---|---|"
row "reverberator log FILE" "$LOGF"
row "stat of FILE in every version (loop)" "$STAT"
row "reverberator log FOLDER" "$LOGD"
row "diff -rq FOLDER of consecutive versions" "$DIFF"
row "reverberator log . (the root)" "$LOGR"
row "reverberator restore . --tar - \| cat" "$TARR"
row "tar -chf - -C V$((VERSIONS - 1)) . \| cat" "$TARG"
echo
read -r wr _ _ <<<"$TARR"; read -r wg _ _ <<<"$TARG"
echo "tar speed vs GNU tar (wall): $(awk -v a="$wg" -v b="$wr" 'BEGIN { printf "%.2fx", a / b }'); max RSS of the writers alone: reverberator $((rss_r / 1024)) MiB, GNU tar $((rss_g / 1024)) MiB; archive sizes: reverberator $size_r B, GNU tar $size_g B."
