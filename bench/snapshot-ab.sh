#!/usr/bin/env bash
# Same-run A/B of two binaries on one vault: `snapshot` of 100 changed files (delta scan +
# commit), alternating old and new, then `diff` of the oldest and the newest version.
# 100k files in 20-entry folders on a fresh journaled ext4 loop image; V0 is made by OLD.
# Prints one line per run ("snapshot|diff old|new USER SYS WALL" seconds), then the medians
# (CPU = user + sys; the first snapshot pair is left out).
# Usage: sudo bench/snapshot-ab.sh OLD_BINARY NEW_BINARY [ROUNDS]   (~5 min for 10 rounds)
set -euo pipefail
OLD=$1; NEW=$2; ROUNDS=${3:-10}
IMG=/tmp/rvb-ab.img; MNT=/tmp/rvb-ab-mnt
cleanup() { if mountpoint -q $MNT; then umount $MNT; fi; rm -f $IMG; }
trap cleanup EXIT
# -i 4096: a million inodes (each version adds about 2,300: folders and links).
truncate -s 4G $IMG; mkfs.ext4 -q -F -i 4096 $IMG; mkdir -p $MNT; mount -o loop $IMG $MNT
python3 - $MNT/src 100000 <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    leaf = i // 20
    d = os.path.join(root, f"{leaf // 400:03d}", f"{(leaf // 20) % 20:02d}", f"{leaf % 20:02d}")
    if i % 20 == 0: os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i % 20:02d}.txt"), "wb") as f: f.write(b"x" * (200 + (i * 7919) % 4000))
PY
mkdir -p $MNT/vault
cat > $MNT/r.toml <<T
[defaults]
keep_versions = 1000
vault_limit = 0
[jobs.bench]
source = "$MNT/src"
vault = "$MNT/vault"
T
$OLD --config $MNT/r.toml snapshot bench >/dev/null
change() { python3 - $MNT/src $1 <<'PY'
import sys
root, r = sys.argv[1], int(sys.argv[2])
n, m = 100000, 100
for k in range(m):
    i = (r * 7919 + k * (n // m)) % n
    leaf = i // 20
    p = f"{root}/{leaf // 400:03d}/{(leaf // 20) % 20:02d}/{leaf % 20:02d}/f{i % 20:02d}.txt"
    open(p, "ab").write(b"round %d\n" % r)
PY
}
OUT=$(mktemp)
# t CMD...: "USER SYS WALL" of CMD; a failing CMD stops the benchmark (it would time
# a cut-short run).
t() {
  sync
  if ! /usr/bin/time -o $OUT.t -f "%U %S %e" "$@" >/dev/null 2>$OUT.err; then
    echo "failed: $*" >&2; cat $OUT.err >&2; exit 1
  fi
  cat $OUT.t
}
k=0
for r in $(seq 1 $ROUNDS); do
  for which in old new; do
    bin=$OLD; [ $which = new ] && bin=$NEW
    k=$((k + 1)); change $k
    r=$(t $bin --config $MNT/r.toml snapshot bench)
    echo "snapshot $which $r" | tee -a $OUT
  done
done
for r in $(seq 1 4); do
  for which in old new; do
    bin=$OLD; [ $which = new ] && bin=$NEW
    first=$(ls $MNT/vault/bench | grep '^V' | sort -V | head -1); last=$(ls $MNT/vault/bench | grep '^V' | sort -V | tail -1)
    r=$(t $bin --config $MNT/r.toml diff bench ${first%%--*} ${last%%--*})
    echo "diff $which $r" | tee -a $OUT
  done
done
python3 - $OUT <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
for kind in ["snapshot", "diff"]:
    for w in ["old", "new"]:
        r = [(float(u) + float(s), float(e)) for k, x, u, s, e in rows if (k, x) == (kind, w)]
        r = r[1:] if kind == "snapshot" else r
        print(f"{kind} {w}: {len(r)} runs, CPU median {st.median(c for c, _ in r):.3f} s, "
              f"wall median {st.median(e for _, e in r):.3f} s")
PY
rm -f $OUT $OUT.t $OUT.err
