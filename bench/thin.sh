#!/usr/bin/env bash
# Thinning benchmark (issue 11): a year (DAYS) of simulated versions every STEP through the
# real binary. Each round changes one file of a small tree and runs
# `reverberator snapshot`, which commits a version and then applies the job's `keep` tiers.
# Version times come from the test clock (REVERBERATOR_TEST_CLOCK: version n at
# START + n × STEP). The product reads the real clock; only the version names are simulated.
#
# Reports: versions made, versions kept at the end (and what the policy alone would keep,
# from `list --json`'s keep arrays), retires done, and the CPU (user+sys) and wall time of
# each `snapshot` run. Rounds that retired something are compared with rounds that did
# not. The difference of their means is the retire's share, an estimate: both kinds of
# round also start the process, load the config, scan and commit.
#
# Usage: bench/thin.sh
# Env:   STEP (default 1h; 10m is the issue's cadence: 52,560 rounds, 6 times longer),
#        DAYS (365), FILES (200: the tree's files, 20 per folder),
#        KEEP (the keep table, one TOML line per key; default the recommended one:
#        within 2h, hourly 24, daily 30, weekly 12, monthly 12, yearly 5), KEEP_VERSIONS (10),
#        WORK (/tmp/thin-bench), BIN (target/release/reverberator; `cargo build --release`),
#        OUT (write the per-round TSV there too).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/reverberator}
WORK=${WORK:-/tmp/thin-bench}
STEP=${STEP:-1h}
DAYS=${DAYS:-365}
FILES=${FILES:-200}
KEEP_VERSIONS=${KEEP_VERSIONS:-10}
KEEP=${KEEP:-$'within = "2h"\nhourly = 24\ndaily = 30\nweekly = 12\nmonthly = 12\nyearly = 5'}
START=2026-01-01T00:00:00+01:00
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian: time)" >&2; exit 1; }

step_secs=$(python3 -c "
import re,sys
m=re.fullmatch(r'(\d+)(s|m|h)','$STEP') or sys.exit('STEP: N followed by s, m or h')
print(int(m[1])*{'s':1,'m':60,'h':3600}[m[2]])")
rounds=$(( DAYS * 86400 / step_secs ))

rm -rf "$WORK"
mkdir -p "$WORK/src" "$WORK/vault"
for ((i = 0; i < FILES; i++)); do
  d="$WORK/src/d$((i / 20))"
  mkdir -p "$d"
  printf 'file %d\n' "$i" > "$d/f$i"
done
cat > "$WORK/reverberator.toml" <<EOF
[jobs.thin]
source = "$WORK/src"
vault = "$WORK/vault"
keep_versions = $KEEP_VERSIONS
[jobs.thin.keep]
$KEEP
EOF

tsv="$WORK/rounds.tsv"
printf 'round\tretired\twall_s\tuser_s\tsys_s\n' > "$tsv"
echo "thin bench: $rounds rounds (every $STEP for $DAYS days), $FILES files, keep_versions = $KEEP_VERSIONS, keep: $(echo "$KEEP" | paste -sd, -)"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at start"
t0=$(date +%s)
for ((n = 0; n < rounds; n++)); do
  i=$(( n % FILES ))
  printf 'round %d\n' "$n" > "$WORK/src/d$((i / 20))/f$i"
  REVERBERATOR_TEST_CLOCK="$START,$STEP" /usr/bin/time -f '%e %U %S' -o "$WORK/time" \
    "$BIN" --config "$WORK/reverberator.toml" snapshot thin 2> "$WORK/err" > /dev/null \
    || { cat "$WORK/err" "$WORK/time" >&2; exit 1; }
  retired=$(grep -c ': retired ' "$WORK/err" || true)
  read -r wall user sys < <(tail -n 1 "$WORK/time")
  printf '%d\t%d\t%s\t%s\t%s\n' "$n" "$retired" "$wall" "$user" "$sys" >> "$tsv"
  if (( n % 1000 == 999 )); then
    echo "  $((n + 1)) rounds, $(ls "$WORK/vault/thin" | grep -c '^V') versions on disk, $(( $(date +%s) - t0 )) s"
  fi
done
echo "machine: load $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(( $(date +%s) - t0 )) s in all"

"$BIN" --config "$WORK/reverberator.toml" list thin --json > "$WORK/list.json"
[ -n "${OUT:-}" ] && cp "$tsv" "$OUT"
python3 - "$tsv" "$WORK/list.json" <<'EOF'
import json, sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
r = [(int(a), int(b), float(c), float(d) + float(e)) for a, b, c, d, e in rows]
listing = json.load(open(sys.argv[2]))
kept_by_rules = sum(1 for v in listing if v["keep"])
retired = sum(x[1] for x in r)
def stats(sel):
    if not sel:
        return "none"
    cpu = [x[3] for x in sel]; wall = [x[2] for x in sel]
    return (f"{len(sel)} rounds, CPU mean {1000*sum(cpu)/len(cpu):.1f} ms, worst {1000*max(cpu):.0f} ms; "
            f"wall mean {1000*sum(wall)/len(wall):.1f} ms, worst {1000*max(wall):.0f} ms")
plain = [x for x in r if x[1] == 0]
thin = [x for x in r if x[1] > 0]
print(f"versions made {len(r)}, retired {retired}, on disk at the end {len(listing)}, "
      f"of which the rules keep {kept_by_rules} (the rest wait for a middle retire)")
print(f"snapshot rounds without a retire: {stats(plain)}")
print(f"snapshot rounds with a retire:    {stats(thin)}")
if plain and thin:
    base = sum(x[3] for x in plain) / len(plain)
    per = [(x[3] - base) / x[1] for x in thin]
    print(f"retire share (CPU above the plain mean, per retired version): mean {1000*sum(per)/len(per):.1f} ms, "
          f"worst {1000*max(per):.0f} ms")
EOF
