#!/usr/bin/env bash
# flow.sh APPFLOWD FILE_TYPE IN OUT: the peers workload through `appflowd run`.
#   FILE_TYPE is the output's S3 fileType (JSON or PARQUET); IN is a .csv or
#   .jsonl file, put into a local source bucket; the one output file the flow
#   writes (SingleFile aggregation) is moved to OUT.
set -euo pipefail
bin=$1 ftype=$2 in=$3 out=$4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case $in in
  *.jsonl) itype=JSON ext=jsonl ;;
  *.csv) itype=CSV ext=csv ;;
  *) echo "flow.sh: input must end in .csv or .jsonl: $in" >&2; exit 2 ;;
esac
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/s3/src/in" "$d/s3/dst"
# a hard link costs nothing; across file systems fall back to a copy
ln "$in" "$d/s3/src/in/data.$ext" 2>/dev/null || cp "$in" "$d/s3/src/in/data.$ext"
sed -e "s/@INPUT_TYPE@/$itype/" -e "s/@FILE_TYPE@/$ftype/" "$here/flow.json.tmpl" >"$d/flow.json"
"$bin" run --data-dir "$d" "$d/flow.json" >/dev/null
mapfile -t files < <(find "$d/s3/dst" -type f)
if [[ ${#files[@]} != 1 ]]; then
  echo "flow.sh: want one output file, got ${#files[@]}: ${files[*]}" >&2
  exit 1
fi
mv "${files[0]}" "$out"
