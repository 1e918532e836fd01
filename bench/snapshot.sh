#!/usr/bin/env bash
# Benchmark `reverberator snapshot` against rsync --link-dest, the changed-files floor and a
# bare metadata walk (`find -printf`), on a fresh loop-mounted ext4 image and on the root
# disk. Trees of 10k and 100k files in 20-entry folders; rounds of 10 and 1000 modified
# files. du is used HERE (to measure), never in reverberator's data path.
#
# usage: sudo bench/snapshot.sh [ROUNDS]     (needs root for the loop mount; ~10 min)
# Output: a markdown report on stdout (tables per filesystem), progress on stderr.
set -euo pipefail

ROUNDS=${1:-3}
SIZES=${SIZES:-"10000 100000"}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN="$HERE/target/release/reverberator"
IMG=/tmp/rvb-bench.img
MNT=/tmp/rvb-bench-mnt
ROOTDIR=/tmp/rvb-bench-root

log() { echo "[bench] $*" >&2; }

cleanup() {
    if mountpoint -q "$MNT"; then umount "$MNT"; fi
    rm -f "$IMG"
    rm -rf "$ROOTDIR"
}
trap cleanup EXIT

(cd "$HERE" && cargo build --release --quiet)

# make_tree DIR N: N files in 20-entry folders, DIR/TTT/MM/LL/fNN.txt, 200..4200 bytes.
make_tree() {
    python3 - "$1" "$2" <<'PY'
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
}

# changed_list N M ROUND: M file paths (relative) spread over the tree.
changed_list() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys
n, m, r = map(int, sys.argv[1:])
for k in range(m):
    i = (r * 7919 + k * (n // m)) % n
    leaf = i // 20
    print(f"{leaf // 400:03d}/{(leaf // 20) % 20:02d}/{leaf % 20:02d}/f{i % 20:02d}.txt")
PY
}

# timed OUTVAR CMD...: sync (so nobody flushes another step's dirty data), run CMD, store
# "seconds maxrss_kb" in OUTVAR and its user+system CPU seconds in OUTVAR_cpu.
timed() {
    local var=$1; shift
    local t e m u s
    t=$(mktemp)
    sync
    /usr/bin/time -f "%e %M %U %S" -o "$t" "$@" >/dev/null
    read -r e m u s <"$t"
    printf -v "$var" '%s %s' "$e" "$m"
    printf -v "${var}_cpu" '%s' "$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')"
    rm -f "$t"
}

inodes() { du -s --inodes "$1" | cut -f1; }
bytes() { du -sB1 "$1" | cut -f1; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# bench_fs LABEL BASE: run every tree size and change count under BASE.
bench_fs() {
    local label=$1 base=$2
    echo
    echo "### $label"
    echo
    echo "| files | changed | find walk s (CPU s) | reverberator s (CPU s) | rsync --link-dest s | changed-files copy s | rvb / find wall (CPU) | rsync / rvb | rvb entries / version | rsync entries / version | rvb bytes / version | rsync bytes / version | rvb inodes / version | rsync inodes / version | rvb peak RSS MiB | rsync peak RSS MiB |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for n in $SIZES; do
        rm -rf "$base"/*
        local src="$base/src" vault="$base/vault" rs="$base/rsync" floor="$base/floor"
        mkdir -p "$src" "$vault" "$rs" "$floor"
        log "$label: building a $n-file tree"
        make_tree "$src" "$n"
        cat >"$base/rvb.toml" <<TOML
[jobs.bench]
source = "$src"
vault = "$vault"
keep_versions = 1000
vault_limit = "0"  # measure snapshots, not retires (the default 5% of a 4 GiB image is < V0)
TOML
        log "$label: version 0 (full copies)"
        timed v0 "$BIN" --config "$base/rvb.toml" -q snapshot bench
        timed r0 rsync -a --delete "$src/" "$rs/0/"
        log "$label: V0 reverberator ${v0% *} s, rsync ${r0% *} s"
        local prev=0 round=0
        for m in 10 1000; do
            local f_cpu_t=() v_cpu_t=() f_t=() v_t=() r_t=() c_t=() v_e=() r_e=() v_b=() r_b=() v_i=() r_i=() v_m=() r_m=()
            for ((k = 0; k < ROUNDS; k++)); do
                round=$((round + 1))
                changed_list "$n" "$m" "$round" >"$base/list"
                while read -r p; do echo "round $round" >>"$src/$p"; done <"$base/list"
                timed f find "$src" -printf '%s %T@\n'
                timed f find "$src" -printf '%s %T@\n'
                local vb vi rb ri
                vb=$(bytes "$vault"); vi=$(inodes "$vault")
                timed v "$BIN" --config "$base/rvb.toml" -q snapshot bench
                local newv
                newv=$(readlink "$vault/bench/latest")
                v_b+=($(( $(bytes "$vault") - vb ))); v_i+=($(( $(inodes "$vault") - vi )))
                v_e+=($(( $(find "$vault/bench/$newv" | wc -l) - 1 )))
                rb=$(bytes "$rs"); ri=$(inodes "$rs")
                timed r rsync -a --delete --link-dest="$rs/$prev" "$src/" "$rs/$round/"
                r_b+=($(( $(bytes "$rs") - rb ))); r_i+=($(( $(inodes "$rs") - ri )))
                r_e+=($(( $(find "$rs/$round" | wc -l) - 1 )))
                prev=$round
                rm -rf "$floor/$round"; mkdir -p "$floor/$round"
                timed c sh -c "cd '$src' && xargs -a '$base/list' cp -a --parents -t '$floor/$round'"
                f_t+=("${f% *}"); v_t+=("${v% *}"); r_t+=("${r% *}"); c_t+=("${c% *}")
                f_cpu_t+=("$f_cpu"); v_cpu_t+=("$v_cpu")
                v_m+=("${v#* }"); r_m+=("${r#* }")
                log "$label n=$n m=$m round $k: find ${f% *} rvb ${v% *} rsync ${r% *} floor ${c% *}"
            done
            local F V R C
            F=$(printf '%s\n' "${f_t[@]}" | median); V=$(printf '%s\n' "${v_t[@]}" | median)
            R=$(printf '%s\n' "${r_t[@]}" | median); C=$(printf '%s\n' "${c_t[@]}" | median)
            local FC VC
            FC=$(printf '%s\n' "${f_cpu_t[@]}" | median); VC=$(printf '%s\n' "${v_cpu_t[@]}" | median)
            echo "| $n | $m | $F ($FC) | $V ($VC) | $R | $C | $(ratio "$V" "$F") ($(ratio "$VC" "$FC")) | $(ratio "$R" "$V") |" \
                "$(printf '%s\n' "${v_e[@]}" | median) | $(printf '%s\n' "${r_e[@]}" | median) |" \
                "$(printf '%s\n' "${v_b[@]}" | median) | $(printf '%s\n' "${r_b[@]}" | median) |" \
                "$(printf '%s\n' "${v_i[@]}" | median) | $(printf '%s\n' "${r_i[@]}" | median) |" \
                "$(( $(printf '%s\n' "${v_m[@]}" | sort -g | tail -1) / 1024 )) | $(( $(printf '%s\n' "${r_m[@]}" | sort -g | tail -1) / 1024 )) |"
        done
        echo "| $n | V0 | | ${v0% *} | ${r0% *} | | | | | | | | | | $(( ${v0#* } / 1024 )) | $(( ${r0#* } / 1024 )) |"
    done
}

echo "## reverberator snapshot benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $ROUNDS rounds, medians)"
echo
echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, kernel $(uname -r)"
echo "- reverberator $("$BIN" --version | cut -d' ' -f2) release build; rsync $(rsync --version | head -1 | awk '{print $3}')"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: wall times include waiting for a CPU; CPU seconds = user + system)"

truncate -s 4G "$IMG"
mkfs.ext4 -q -F -i 4096 "$IMG"
mkdir -p "$MNT"
mount -o loop "$IMG" "$MNT"
bench_fs "fresh ext4 on a 4 GiB loop image ($IMG, mkfs.ext4 -i 4096)" "$MNT"
umount "$MNT"

mkdir -p "$ROOTDIR"
bench_fs "root disk ($(findmnt -n -o SOURCE,FSTYPE --target "$ROOTDIR" | tr -s ' ') at $ROOTDIR)" "$ROOTDIR"
