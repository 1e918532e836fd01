#!/usr/bin/env bash
# Same-run A/B of retires: on one steady-state vault made by `KEEP=1 bench/retire.sh`
# (DIR = $WORK/FILES, holding reverberator.toml, src/ and vault/), each round changes 100
# files, takes a version with NEW and retires the oldest with OLD, then the same with NEW,
# printing "old|new CPU USER" seconds of each `prune` (wait4, to the microsecond).
# Usage: OLD=path/to/old/reverberator bench/retire-ab.sh DIR FILES ROUNDS
# Env:   NEW (default target/release/reverberator).
set -euo pipefail
cd "$(dirname "$0")/.."
D=$1; FILES=$2; ROUNDS=$3; NEW=${NEW:-$PWD/target/release/reverberator}; OLD=${OLD:?OLD=binary}
for r in $(seq 1 "$ROUNDS"); do
  for which in old new; do
    BIN=$([ $which = old ] && echo $OLD || echo $NEW)
    python3 - $D/src $FILES $RANDOM <<'PY'
import os, random, sys
root, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
for i in rnd.sample(range(n), 100):
    p = os.path.join(root, f"a{i // 8000}", f"b{(i // 400) % 20}", f"c{(i // 20) % 20}", f"f{i}")
    with open(p, "w") as f: f.write(f"changed {seed} {i}")
PY
    sed -i "s/^keep_versions = .*/keep_versions = 1000/" $D/reverberator.toml
    $NEW --config $D/reverberator.toml snapshot bench >/dev/null
    n=$(ls $D/vault/bench | grep -c '^V')
    sed -i "s/^keep_versions = .*/keep_versions = $((n-1))/" $D/reverberator.toml
    sync
    python3 -c '
import os, sys, time
pid = os.fork()
if pid == 0:
    fd = os.open("/dev/null", os.O_WRONLY); os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, st, r = os.wait4(pid, 0)
print(f"{r.ru_utime + r.ru_stime:.4f} {r.ru_utime:.4f}")' $BIN --config $D/reverberator.toml prune bench | sed "s/^/$which /"
  done
done | tee "$D/ab.txt"
awk '{ c[$1] += $2; u[$1] += $3; n[$1]++ } END { for (k in c) printf "%s: mean CPU %.3f s (user %.3f s) over %d retires\n", k, c[k] / n[k], u[k] / n[k], n[k] }' "$D/ab.txt"
