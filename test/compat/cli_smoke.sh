#!/usr/bin/env bash
# The README walk-through with the aws CLI, against its own `appflowd serve`
# (binary from APPFLOWD_BIN) on a free loopback port and a temporary data
# dir. Exits non-zero on any mismatch; prints what differed.
set -euo pipefail

BIN=${APPFLOWD_BIN:-appflowd}
command -v "$BIN" >/dev/null 2>&1 || [ -x "$BIN" ] || { echo "APPFLOWD_BIN=$BIN is not an executable" >&2; exit 2; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/appflowd-cli-XXXXXX")
DATA=$WORK/data
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --data-dir "$DATA" --addr "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
PID=$!
FAILED=0
cleanup() {
	kill "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	if [ "$FAILED" = 0 ]; then rm -rf "$WORK"; else echo "kept $WORK (serve.log)" >&2; fi
}
trap cleanup EXIT

# Nothing from the user's own AWS setup.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
af() { aws appflow --endpoint-url "http://127.0.0.1:$PORT" --cli-read-timeout 60 --output json "$@"; }

for _ in $(seq 1 300); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
	kill -0 "$PID" 2>/dev/null || { FAILED=1; echo "appflowd exited:" >&2; cat "$WORK/serve.log" >&2; exit 2; }
	sleep 0.1
done

fail() { FAILED=1; echo "MISMATCH: $*" >&2; }
# want DESC JSON PYTHON-EXPR: evaluates EXPR with d = the parsed JSON.
want() {
	local desc=$1 json=$2 expr=$3
	if ! python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' "$json" "$expr" 2>/dev/null; then
		fail "$desc: $expr is false for $json"
	fi
}
# want_error CODE CMD...: the CLI fails and names the error code.
want_error() {
	local code=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "$* succeeded, want $code: $out"
	elif ! grep -q "($code)" <<<"$out"; then
		fail "$* failed without ($code): $out"
	fi
}

# A source file in a local bucket: a plain folder.
mkdir -p "$DATA/s3/raw/in" "$DATA/s3/lake"
printf 'id,name,amount\n1,Ada,120.50\n2,Grace,80\n3,Linus,300\n' >"$DATA/s3/raw/in/orders.csv"

out=$(af create-flow --flow-name orders-to-lake \
	--trigger-config triggerType=OnDemand \
	--source-flow-config '{"connectorType":"S3","sourceConnectorProperties":{"S3":{"bucketName":"raw","bucketPrefix":"in","s3InputFormatConfig":{"s3InputFileType":"CSV"}}}}' \
	--destination-flow-config-list '[{"connectorType":"S3","destinationConnectorProperties":{"S3":{"bucketName":"lake","bucketPrefix":"orders","s3OutputFormatConfig":{"fileType":"JSON","aggregationConfig":{"aggregationType":"SingleFile"}}}}}]' \
	--tasks '[
    {"taskType":"Filter","sourceFields":["id","name","amount"],"connectorOperator":{"S3":"PROJECTION"}},
    {"taskType":"Filter","sourceFields":["amount"],"connectorOperator":{"S3":"GREATER_THAN"},"taskProperties":{"DATA_TYPE":"double","VALUE":"100"}},
    {"taskType":"Map","sourceFields":["id"],"destinationField":"order_id","connectorOperator":{"S3":"NO_OP"},"taskProperties":{"DESTINATION_DATA_TYPE":"integer"}},
    {"taskType":"Map","sourceFields":["name"],"destinationField":"customer","connectorOperator":{"S3":"NO_OP"}},
    {"taskType":"Map","sourceFields":["amount"],"destinationField":"amount","connectorOperator":{"S3":"NO_OP"},"taskProperties":{"DESTINATION_DATA_TYPE":"double"}}]' \
	--tags env=test)
want create-flow "$out" 'd["flowArn"] == "arn:aws:appflow:us-east-1:000000000000:flow/orders-to-lake" and d["flowStatus"] == "Active"'
ARN=arn:aws:appflow:us-east-1:000000000000:flow/orders-to-lake

out=$(af start-flow --flow-name orders-to-lake)
want start-flow "$out" 'd["flowStatus"] == "Active" and d.get("executionId")'
EID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("executionId",""))' "$out")

status=""
for _ in $(seq 1 300); do
	out=$(af describe-flow-execution-records --flow-name orders-to-lake)
	status=$(python3 -c 'import json,sys; r=[x for x in json.loads(sys.argv[1])["flowExecutions"] if x["executionId"]==sys.argv[2]]; print(r[0]["executionStatus"] if r else "")' "$out" "$EID")
	[ "$status" = InProgress ] || [ -z "$status" ] || break
	sleep 0.2
done
want describe-flow-execution-records "$out" 'd["flowExecutions"][0]["executionStatus"] == "Successful" and d["flowExecutions"][0]["executionResult"]["recordsProcessed"] == 3'

# The flow's output: one JSON Lines file under orders/orders-to-lake/.
files=$(cd "$DATA/s3/lake" && find . -type f | sed 's|^\./||')
[ "$(wc -l <<<"$files")" = 1 ] || fail "output files: $files"
case $files in orders/orders-to-lake/*"$EID"*) ;; *) fail "output key $files lacks orders/orders-to-lake/…$EID" ;; esac
got=$(cat "$DATA/s3/lake/$files" 2>/dev/null || true)
expect='{"order_id":1,"customer":"Ada","amount":120.5}
{"order_id":3,"customer":"Linus","amount":300}'
[ "$got" = "$expect" ] || fail "output: got $got, want $expect"

out=$(af describe-flow --flow-name orders-to-lake)
want describe-flow "$out" 'd["flowStatus"] == "Active" and d["lastRunExecutionDetails"]["mostRecentExecutionStatus"] == "Successful" and d["tags"] == {"env": "test"} and len(d["tasks"]) == 5'
# The CLI prints epoch-second numbers (cli v1) or ISO strings (cli v2): either way a time.
want describe-flow-createdAt "$out" 'isinstance(d["createdAt"], (int, float, str)) and d["createdAt"]'

out=$(af list-flows)
want list-flows "$out" '[f["flowName"] for f in d["flows"]] == ["orders-to-lake"] and "nextToken" not in d'

out=$(af list-tags-for-resource --resource-arn "$ARN")
want list-tags-for-resource "$out" 'd["tags"] == {"env": "test"}'
af tag-resource --resource-arn "$ARN" --tags team=data >/dev/null
af untag-resource --resource-arn "$ARN" --tag-keys env >/dev/null
out=$(af list-tags-for-resource --resource-arn "$ARN")
want tag-untag "$out" 'd["tags"] == {"team": "data"}'

out=$(af describe-connectors --connector-types S3)
want describe-connectors "$out" 'list(d["connectorConfigurations"]) == ["S3"]'
out=$(af list-connector-entities --connector-type S3)
want list-connector-entities "$out" '"raw" in [e["name"] for g in d["connectorEntityMap"].values() for e in g]'

want_error UnsupportedOperationException af stop-flow --flow-name orders-to-lake
want_error ResourceNotFoundException af describe-flow --flow-name no-such-flow
want_error ConflictException af create-flow --flow-name orders-to-lake --trigger-config triggerType=OnDemand \
	--source-flow-config '{"connectorType":"S3","sourceConnectorProperties":{"S3":{"bucketName":"raw","bucketPrefix":"in"}}}' \
	--destination-flow-config-list '[{"connectorType":"S3","destinationConnectorProperties":{"S3":{"bucketName":"lake"}}}]' \
	--tasks '[{"taskType":"Map_all","sourceFields":[],"connectorOperator":{"S3":"NO_OP"}}]'
want_error ValidationException af list-flows --max-results 101

af delete-flow --flow-name orders-to-lake >/dev/null
out=$(af list-flows)
want list-flows-after-delete "$out" 'd["flows"] == []'

if [ "$FAILED" != 0 ]; then
	exit 1
fi
echo "cli smoke: all checks passed ($(aws --version 2>&1))"
