#!/usr/bin/env bash
# bench/peers/run.sh: appflowd and DuckDB side by side on the same workloads,
# on this machine, in one run. See bench/peers/README.md.
#
#   bench/peers/run.sh                 # 1,000,000 rows, 1 rep
#   ROWS=5000000 REPS=3 bench/peers/run.sh
#
# Knobs (environment): ROWS (1000000), REPS (1; medians when more),
# SETTLE_S (5: idle seconds before each timed run, so every run starts in the
# same memory state), WORK (/tmp/appflowd-peers: scratch for binaries, data,
# outputs), WORKLOADS (csv-jsonl,csv-parquet,jsonl-jsonl), REBUILD_DUCKDB=1,
# BASELINE (an appflowd binary, e.g. built from main before a change: it runs
# too, as system "baseline", so a change's before and after share one run).
#
# It builds appflowd from this checkout, builds DuckDB's runner (duckdb/ here,
# with the pinned duckdb-go module, cgo) once into $WORK/bin, generates the
# data, times each system with GNU time, fingerprints every output and
# prints a table. Exit status 1 if any run failed or outputs disagree.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/peers
ROWS=${ROWS:-1000000}
REPS=${REPS:-1}
SETTLE_S=${SETTLE_S:-5}
WORK=${WORK:-/tmp/appflowd-peers}
WORKLOADS=${WORKLOADS:-csv-jsonl,csv-parquet,jsonl-jsonl}
DUCKDB_GO=github.com/duckdb/duckdb-go/v2@v2.10506.0 # DuckDB 1.5.6

log() { printf '== %s\n' "$*" >&2; }
[[ -x /usr/bin/time ]] || { echo "run.sh: needs GNU time (apt-get install time)" >&2; exit 2; }
mkdir -p "$WORK"/{bin,build,data,out}
export GOTOOLCHAIN=local

log "build appflowd from $ROOT"
(cd "$ROOT" && go build -o "$WORK/bin/appflowd" ./cmd/appflowd)

if [[ ! -x $WORK/bin/duckrun || ${REBUILD_DUCKDB:-0} == 1 ]]; then
  log "build duckrun with $DUCKDB_GO (first time: downloads the module and links libduckdb, minutes)"
  b=$WORK/build/duckdb
  rm -rf "$b" && mkdir -p "$b" && cp "$HERE/duckdb/main.go" "$HERE/duckdb/go.mod" "$b/"
  (
    cd "$b"
    go get "$DUCKDB_GO" >build.log 2>&1 && go mod tidy >>build.log 2>&1 &&
      CGO_ENABLED=1 go build -o "$WORK/bin/duckrun" . >>build.log 2>&1
  ) || { tail -20 "$b/build.log" >&2; echo "run.sh: could not build the DuckDB runner" >&2; exit 1; }
fi
DUCKDB_VERSION=$("$WORK/bin/duckrun" -version)

CSV=$WORK/data/data_$ROWS.csv
JSONL=$WORK/data/data_$ROWS.jsonl
if [[ ! -s $CSV || ! -s $JSONL ]]; then
  log "generate $ROWS rows"
  (cd "$ROOT" && go run ./bench/peers/gendata -rows "$ROWS" -out "$WORK/data" >/dev/null)
fi
cat "$CSV" "$JSONL" "$WORK"/bin/* >/dev/null # inputs come from the page cache for everyone

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
TSV=$WORK/out/runs.tsv
: >"$TSV"
rc=0
# one timed run: workload system rep command...; appends a line to $TSV
timed() {
  local wl=$1 sys=$2 rep=$3 out=$4
  shift 4
  rm -f "$out" && sync && sleep "$SETTLE_S"
  local tf=$WORK/out/time.txt
  if ! /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$WORK/out/$sys.log" 2>&1; then
    echo "run.sh: $sys failed on $wl:" >&2
    tail -5 "$WORK/out/$sys.log" >&2
    rc=1
    return
  fi
  local wall user sys_s rss fp
  read -r wall user sys_s rss < <(tail -1 "$tf")
  fp=$("$WORK/bin/duckrun" -fingerprint "$out")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$sys" "$rep" "$wall" \
    "$(awk -v u="$user" -v s="$sys_s" 'BEGIN{printf "%.2f", u+s}')" "$rss" "$fp" >>"$TSV"
}

for rep in $(seq 1 "$REPS"); do
  for wl in ${WORKLOADS//,/ }; do
    case $wl in
      csv-jsonl) in=$CSV to=json ft=JSON ext=jsonl ;;
      csv-parquet) in=$CSV to=parquet ft=PARQUET ext=parquet ;;
      jsonl-jsonl) in=$JSONL to=json ft=JSON ext=jsonl ;;
      *) echo "run.sh: unknown workload $wl" >&2; exit 2 ;;
    esac
    log "rep $rep: $wl"
    timed "$wl" duckdb "$rep" "$WORK/out/duckdb.$ext" "$WORK/bin/duckrun" -in "$in" -out "$WORK/out/duckdb.$ext" -to "$to"
    timed "$wl" appflowd "$rep" "$WORK/out/appflowd.$ext" bash "$HERE/flow.sh" "$WORK/bin/appflowd" "$ft" "$in" "$WORK/out/appflowd.$ext"
    if [[ -n ${BASELINE:-} ]]; then
      timed "$wl" baseline "$rep" "$WORK/out/baseline.$ext" bash "$HERE/flow.sh" "$BASELINE" "$ft" "$in" "$WORK/out/baseline.$ext"
    fi
  done
done

echo
echo "rows=$ROWS reps=$REPS settle=${SETTLE_S}s $DUCKDB_VERSION $(go version | cut -d' ' -f3) nproc=$(nproc)"
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
# medians of wall and CPU, max of RSS, per workload and system; ratios to DuckDB
sort -t$'\t' -k1,1 -k2,2 -k4,4n "$TSV" | awk -F'\t' -v rows="$ROWS" '
function median(list,   n, a, i, j, t) {
  n = split(list, a, " ")
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
  return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{
  k = $1 SUBSEP $2
  if (!(k in walls)) { order[++nk] = k }
  walls[k] = walls[k] " " $4; cpus[k] = cpus[k] " " $5
  if ($6 > rss[k]) rss[k] = $6
  fp[k] = (k in fp && fp[k] != $7) ? "VARIES" : $7
}
END {
  print "| workload | system | wall s | CPU s | peak RSS MiB | rows/s | wall x DuckDB | CPU x DuckDB | RSS x DuckDB | output |"
  print "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
  bad = 0
  for (i = 1; i <= nk; i++) {
    split(order[i], p, SUBSEP); d = p[1] SUBSEP "duckdb"
    w = median(walls[order[i]]); c = median(cpus[order[i]])
    dw = median(walls[d]); dc = median(cpus[d])
    same = (d in fp) && fp[order[i]] == fp[d] && fp[d] != "VARIES"
    if (!same) bad = 1
    printf "| %s | %s | %.2f | %.2f | %.0f | %.2f M | %s | %s | %s | %s %s |\n", p[1], p[2], w, c, rss[order[i]] / 1024,
      rows / w / 1e6, (d in fp) ? sprintf("%.2f", w / dw) : "-", (d in fp) ? sprintf("%.2f", c / dc) : "-",
      (d in fp) ? sprintf("%.2f", rss[order[i]] / rss[d]) : "-", fp[order[i]], same ? "(same as DuckDB)" : "(DIFFERS)"
  }
  exit bad
}' || rc=1
echo
echo "raw runs: $TSV"
exit $rc
