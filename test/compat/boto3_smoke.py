#!/usr/bin/env python3
"""boto3 smoke test of appflowd, written the way a new user would.

Starts `$APPFLOWD_BIN serve` on a free loopback port with a temporary data
dir (and a tiny fake connector Lambda for RegisterConnector), then drives all
25 AppFlow operations through boto3 with --endpoint-url: success paths,
typical errors (checked through e.response['Error']['Code'] and the HTTP
status), pagination, timestamps as datetimes, tags on ARNs, clientToken
retries, and an S3-to-S3 on-demand flow between local buckets whose output
file it reads back.

Exit status: 0 when everything matched, 1 on any mismatch (each is printed),
2 when the server could not be started.
"""

import datetime
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

FAILURES = []
ACCOUNT = "000000000000"  # appflowd's default account without --credentials
REGION = "us-east-1"

# HTTP status of every AppFlow exception (control-plane 1.5).
STATUS = {
    "ValidationException": 400,
    "ConnectorServerException": 400,
    "UnsupportedOperationException": 400,
    "ConnectorAuthenticationException": 401,
    "ServiceQuotaExceededException": 402,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}


def fail(msg):
    FAILURES.append(msg)
    print("MISMATCH: " + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def expect_error(code, fn, msg_part=None, **kwargs):
    """Calls fn(**kwargs) and checks it fails with the AWS error code."""
    name = getattr(fn, "__name__", str(fn))
    try:
        out = fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        message = e.response["Error"].get("Message", "")
        check(got == code, f"{name}: got error code {got!r} ({message!r}), want {code}")
        check(status == STATUS.get(code, status), f"{name}: {code} came with HTTP {status}, want {STATUS.get(code)}")
        check(message != "", f"{name}: {code} without a message")
        check(bool(e.response["ResponseMetadata"].get("RequestId")), f"{name}: {code} without x-amzn-RequestId")
        # The generated exception class matches the code for modeled errors.
        cls = getattr(fn.__self__.exceptions, code, None) if hasattr(fn, "__self__") else None
        if cls is not None and got == code:
            check(isinstance(e, cls), f"{name}: error is not client.exceptions.{code}")
        if msg_part is not None:
            check(msg_part in message, f"{name}: message {message!r} lacks {msg_part!r}")
        return e
    except Exception as e:  # noqa: BLE001 - a user sees any exception
        fail(f"{name}: raised {type(e).__name__}: {e}, want ClientError {code}")
        return None
    fail(f"{name}: succeeded with {strip(out)}, want {code}")
    return None


def strip(out):
    if isinstance(out, dict):
        return {k: v for k, v in out.items() if k != "ResponseMetadata"}
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


# ---------------------------------------------------------------- fake Lambda

LAMBDA_CONFIG = {
    "isSuccess": True,
    "connectorOwner": "smoke",
    "connectorName": "SmokeConnector",
    "connectorVersion": "1.0",
    "connectorModes": ["SOURCE", "DESTINATION"],
    "supportedApiVersions": ["v1"],
    "operatorsSupported": ["PROJECTION", "EQUAL_TO", "NO_OP"],
    "supportedTriggerTypes": ["SCHEDULED", "ONDEMAND"],
    "triggerFrequenciesSupported": ["HOURLY", "DAILY"],
    "supportedWriteOperations": ["INSERT"],
    "authenticationConfig": {"isBasicAuthSupported": True},
}


class FakeLambda(http.server.BaseHTTPRequestHandler):
    """Answers Lambda Invoke for a custom connector: only what registration
    and profile creation need."""

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            typ = json.loads(body or b"{}").get("type", "")
        except ValueError:
            typ = ""
        if typ == "DescribeConnectorConfigurationRequest":
            out = LAMBDA_CONFIG
        elif typ in ("ValidateCredentialsRequest", "ValidateConnectorRuntimeSettingsRequest"):
            out = {"isSuccess": True}
        elif typ == "ListEntitiesRequest":
            out = {"isSuccess": True, "entities": [{"entityIdentifier": "things", "label": "Things", "hasNestedEntities": False}]}
        else:
            self.send_response(200)
            self.send_header("X-Amz-Function-Error", "Unhandled")
            self.send_header("Content-Type", "application/json")
            data = json.dumps({"errorMessage": "unsupported " + typ, "errorType": "RuntimeError"}).encode()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


# ---------------------------------------------------------------- the checks


def paginate(client, op, key, **kwargs):
    """All items of a paginated operation: boto3's paginator when the client
    has one (botocore ships none for AppFlow), else a nextToken loop."""
    if client.can_paginate(op):
        items = []
        for page in client.get_paginator(op).paginate(**kwargs):
            items.extend(page[key])
        return items, None
    items, pages = [], []
    fn = getattr(client, op)
    token = None
    for _ in range(1000):
        args = dict(kwargs)
        if token is not None:
            args["nextToken"] = token
        page = fn(**args)
        items.extend(page[key])
        pages.append(len(page[key]))
        if "nextToken" in page:
            check(page["nextToken"] != "", f"{op}: empty-string nextToken (must be omitted at the end)")
        token = page.get("nextToken")
        if not token:
            return items, pages
    fail(f"{op}: pagination did not end after 1000 pages")
    return items, pages


def is_dt(v):
    return isinstance(v, datetime.datetime) and v.tzinfo is not None


def s3_source(bucket, prefix):
    return {
        "connectorType": "S3",
        "sourceConnectorProperties": {
            "S3": {"bucketName": bucket, "bucketPrefix": prefix, "s3InputFormatConfig": {"s3InputFileType": "CSV"}}
        },
    }


def s3_dest(bucket, prefix):
    return [
        {
            "connectorType": "S3",
            "destinationConnectorProperties": {
                "S3": {
                    "bucketName": bucket,
                    "bucketPrefix": prefix,
                    "s3OutputFormatConfig": {"fileType": "JSON", "aggregationConfig": {"aggregationType": "SingleFile"}},
                }
            },
        }
    ]


TASKS = [
    {"taskType": "Filter", "sourceFields": ["id", "name", "amount"], "connectorOperator": {"S3": "PROJECTION"}},
    {
        "taskType": "Filter",
        "sourceFields": ["amount"],
        "connectorOperator": {"S3": "GREATER_THAN"},
        "taskProperties": {"DATA_TYPE": "double", "VALUE": "100"},
    },
    {
        "taskType": "Map",
        "sourceFields": ["id"],
        "destinationField": "order_id",
        "connectorOperator": {"S3": "NO_OP"},
        "taskProperties": {"DESTINATION_DATA_TYPE": "integer"},
    },
    {"taskType": "Map", "sourceFields": ["name"], "destinationField": "customer", "connectorOperator": {"S3": "NO_OP"}},
    {
        "taskType": "Map",
        "sourceFields": ["amount"],
        "destinationField": "amount",
        "connectorOperator": {"S3": "NO_OP"},
        "taskProperties": {"DESTINATION_DATA_TYPE": "double"},
    },
]


def flow_args(name, trigger=None, tags=None, **extra):
    args = {
        "flowName": name,
        "triggerConfig": trigger or {"triggerType": "OnDemand"},
        "sourceFlowConfig": s3_source("raw", "in"),
        "destinationFlowConfigList": s3_dest("lake", "orders"),
        "tasks": TASKS,
    }
    if tags is not None:
        args["tags"] = tags
    args.update(extra)
    return args


def wait_run(af, flow, execution_id, timeout=60):
    deadline = time.time() + timeout
    rec = None
    while time.time() < deadline:
        out = af.describe_flow_execution_records(flowName=flow)
        for r in out["flowExecutions"]:
            if r["executionId"] == execution_id:
                rec = r
        if rec is not None and rec["executionStatus"] not in ("InProgress", "CancelStarted"):
            return rec
        time.sleep(0.2)
    fail(f"run {execution_id} of {flow} did not finish within {timeout}s (last {rec})")
    return rec


def smoke_connectors(af):
    out = af.describe_connectors()
    confs = out.get("connectorConfigurations", {})
    check("S3" in confs and "Salesforce" in confs, f"DescribeConnectors: map lacks S3/Salesforce: {sorted(confs)}")
    check("Googleanalytics" in confs, "DescribeConnectors: map lacks the enum key Googleanalytics")
    check("CustomConnector" not in confs, "DescribeConnectors: CustomConnector must not be in the map")
    check("nextToken" not in out or out["nextToken"], "DescribeConnectors: empty nextToken")
    s3 = confs.get("S3", {})
    check(s3.get("canUseAsSource") is True and s3.get("canUseAsDestination") is True, f"S3 configuration: {s3}")
    out = af.describe_connectors(connectorTypes=["Salesforce"])
    sf = out.get("connectorConfigurations", {}).get("Salesforce", {})
    check(
        list(out.get("connectorConfigurations", {})) == ["Salesforce"],
        f"DescribeConnectors(connectorTypes=[Salesforce]) returned {list(out.get('connectorConfigurations', {}))}",
    )
    apis = sf.get("connectorMetadata", {}).get("Salesforce", {}).get("dataTransferApis", [])
    check("BULKV2" in apis, f"Salesforce connectorMetadata.dataTransferApis {apis}")
    one = af.describe_connector(connectorType="Salesforce")["connectorConfiguration"]
    check("Scheduled" in one.get("supportedTriggerTypes", []), f"DescribeConnector Salesforce triggers: {one.get('supportedTriggerTypes')}")
    expect_error("ValidationException", af.describe_connector, connectorType="NoSuchType")
    expect_error("ResourceNotFoundException", af.describe_connector, connectorType="CustomConnector", connectorLabel="nope-label")
    lc = af.list_connectors()
    check(lc.get("connectors") == [], f"ListConnectors before any registration: {strip(lc)}, want connectors: []")
    expect_error("ValidationException", af.list_connectors, maxResults=101)


def smoke_entities(af, data):
    os.makedirs(os.path.join(data, "s3", "raw", "in"), exist_ok=True)
    out = af.list_connector_entities(connectorType="S3")
    groups = out.get("connectorEntityMap")
    check(isinstance(groups, dict), f"ListConnectorEntities: connectorEntityMap missing: {strip(out)}")
    names = [e["name"] for g in (groups or {}).values() for e in g]
    check("raw" in names, f"ListConnectorEntities(S3): buckets {names}, want raw")
    out = af.list_connector_entities(connectorType="S3", entitiesPath="raw")
    names = [e["name"] for g in out.get("connectorEntityMap", {}).values() for e in g]
    check("raw/in" in names, f"ListConnectorEntities(S3, raw): {names}, want raw/in")
    fields = af.describe_connector_entity(connectorType="S3", connectorEntityName="raw/in")["connectorEntityFields"]
    ids = [f["identifier"] for f in fields]
    check(ids == ["id", "name", "amount"], f"DescribeConnectorEntity(raw/in): {ids}")
    for f in fields:
        check("v1" in f.get("supportedFieldTypeDetails", {}), f"field {f.get('identifier')}: supportedFieldTypeDetails lacks v1: {f}")
    af.reset_connector_metadata_cache(connectorType="S3")
    af.reset_connector_metadata_cache(connectorType="S3", connectorEntityName="raw/in")
    expect_error("ValidationException", af.reset_connector_metadata_cache)
    expect_error("ResourceNotFoundException", af.list_connector_entities, connectorProfileName="no-such-profile")
    expect_error("ResourceNotFoundException", af.reset_connector_metadata_cache, connectorProfileName="no-such-profile")
    expect_error("ValidationException", af.list_connector_entities, connectorType="S3", maxResults=10001)


class FakeVault(http.server.BaseHTTPRequestHandler):
    """Answers Veeva Vault's POST /api/{version}/auth as Vault documents it:
    a session for the smoke's user, FAILURE with an error for others."""

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if "/auth" in self.path and "username=tok-123" in body and "password=very-secret" in body:
            out = {"responseStatus": "SUCCESS", "sessionId": "smoke-session", "userId": 1, "vaultId": 1}
        else:
            out = {"responseStatus": "FAILURE", "errors": [{"type": "USERNAME_OR_PASSWORD_INCORRECT",
                                                            "message": "Authentication failed for user"}]}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


# Profiles use Veeva: creating or updating one logs in (FakeVault, started in
# main); two spellings of its address tell an update from the original.
VAULT_URL = ""
VAULT_URL_NEW = ""


def zendesk_config(url=None):
    url = url or VAULT_URL
    return {
        "connectorProfileProperties": {"Veeva": {"instanceUrl": url}},
        "connectorProfileCredentials": {
            "Veeva": {"username": "tok-123", "password": "very-secret"}
        },
    }


def smoke_profiles(af):
    token = str(uuid.uuid4())
    out = af.create_connector_profile(
        connectorProfileName="zd", connectorType="Veeva", connectionMode="Public",
        connectorProfileConfig=zendesk_config(), clientToken=token,
    )
    arn = out.get("connectorProfileArn", "")
    check(arn == f"arn:aws:appflow:{REGION}:{ACCOUNT}:connectorprofile/zd", f"CreateConnectorProfile arn {arn!r}")
    again = af.create_connector_profile(
        connectorProfileName="zd", connectorType="Veeva", connectionMode="Public",
        connectorProfileConfig=zendesk_config(), clientToken=token,
    )
    check(again.get("connectorProfileArn") == arn, f"CreateConnectorProfile replay: {strip(again)}")
    expect_error(
        "ConflictException", af.create_connector_profile, connectorProfileName="zd", connectorType="Veeva",
        connectionMode="Public", connectorProfileConfig=zendesk_config(),
    )
    expect_error(
        "ConflictException", af.create_connector_profile, connectorProfileName="zd2", connectorType="Veeva",
        connectionMode="Public", connectorProfileConfig=zendesk_config(), clientToken=token,
    )
    expect_error(
        "ValidationException", af.create_connector_profile, connectorProfileName="bad name", connectorType="Veeva",
        connectionMode="Public", connectorProfileConfig=zendesk_config(),
    )
    expect_error(  # the properties of another connector type
        "ValidationException", af.create_connector_profile, connectorProfileName="zd-other", connectorType="Datadog",
        connectionMode="Public", connectorProfileConfig=zendesk_config(),
    )
    expect_error(
        "ResourceNotFoundException", af.create_connector_profile, connectorProfileName="cc", connectorType="CustomConnector",
        connectorLabel="notregistered", connectionMode="Public",
        connectorProfileConfig={"connectorProfileProperties": {"CustomConnector": {}},
                                "connectorProfileCredentials": {"CustomConnector": {"authenticationType": "BASIC",
                                                                                     "basic": {"username": "u", "password": "p"}}}},
        msg_part="Connector:notregistered is not registered.",
    )

    out = af.describe_connector_profiles(connectorProfileNames=["zd", "non-existing-name"])
    details = out.get("connectorProfileDetails", [])
    check(len(details) == 1, f"DescribeConnectorProfiles(zd, non-existing-name): {len(details)} profiles, want 1")
    if details:
        p = details[0]
        check(p.get("connectorProfileArn") == arn, f"profile arn {p.get('connectorProfileArn')}")
        check(p.get("connectorType") == "Veeva" and p.get("connectionMode") == "Public", f"profile {p}")
        check(p.get("credentialsArn", "").startswith(f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:appflow!"),
              f"profile credentialsArn {p.get('credentialsArn')!r}")
        check("connectorProfileCredentials" not in p and "kmsArn" not in p, f"profile leaks credentials/kmsArn: {p}")
        check(is_dt(p.get("createdAt")) and is_dt(p.get("lastUpdatedAt")), f"profile timestamps not datetimes: {p}")
        check(p.get("connectorProfileProperties", {}).get("Veeva", {}).get("instanceUrl") == VAULT_URL,
              f"profile properties not echoed: {p.get('connectorProfileProperties')}")
        check("very-secret" not in json.dumps(out, default=str) and "tok-123" not in json.dumps(out, default=str),
              "DescribeConnectorProfiles returns a credential")
        first_updated = p.get("lastUpdatedAt")
    out = af.describe_connector_profiles(connectorType="Salesforce")
    check(out.get("connectorProfileDetails") == [], f"DescribeConnectorProfiles(Salesforce): {strip(out)}, want connectorProfileDetails: []")

    time.sleep(0.01)
    out = af.update_connector_profile(connectorProfileName="zd", connectionMode="Public",
                                      connectorProfileConfig=zendesk_config(VAULT_URL_NEW))
    check(out.get("connectorProfileArn") == arn, f"UpdateConnectorProfile: {strip(out)}")
    p = af.describe_connector_profiles(connectorProfileNames=["zd"])["connectorProfileDetails"][0]
    check(p["connectorProfileProperties"]["Veeva"]["instanceUrl"] == VAULT_URL_NEW, f"after update: {p}")
    if details:
        check(p["lastUpdatedAt"] > first_updated, "UpdateConnectorProfile did not bump lastUpdatedAt")
    expect_error("ResourceNotFoundException", af.update_connector_profile, connectorProfileName="nope",
                 connectionMode="Public", connectorProfileConfig=zendesk_config())

    # 25 profiles page 20 + 5 at the default page size.
    for i in range(24):
        af.create_connector_profile(connectorProfileName=f"zd-{i:02d}", connectorType="Veeva",
                                    connectionMode="Public", connectorProfileConfig=zendesk_config())
    items, pages = paginate(af, "describe_connector_profiles", "connectorProfileDetails")
    names = [p["connectorProfileName"] for p in items]
    check(sorted(names) == sorted(["zd"] + [f"zd-{i:02d}" for i in range(24)]) and len(set(names)) == 25,
          f"DescribeConnectorProfiles paging: {names}")
    if pages is not None:
        check(pages == [20, 5], f"DescribeConnectorProfiles pages {pages}, want [20, 5]")
    items, pages = paginate(af, "describe_connector_profiles", "connectorProfileDetails", maxResults=7)
    check(len(items) == 25 and (pages is None or pages == [7, 7, 7, 4]), f"maxResults=7 pages {pages}")
    expect_error("ValidationException", af.describe_connector_profiles, nextToken="garbage")
    for i in range(24):
        af.delete_connector_profile(connectorProfileName=f"zd-{i:02d}")
    return arn


def smoke_flows(af, data):
    # A source file in a local bucket (a plain folder).
    os.makedirs(os.path.join(data, "s3", "raw", "in"), exist_ok=True)
    os.makedirs(os.path.join(data, "s3", "lake"), exist_ok=True)
    with open(os.path.join(data, "s3", "raw", "in", "orders.csv"), "w") as f:
        f.write("id,name,amount\n1,Ada,120.50\n2,Grace,80\n3,Linus,300\n")

    out = af.list_flows()
    check(out.get("flows") == [] and "nextToken" not in out, f"ListFlows on an empty server: {strip(out)}, want flows: []")

    token = str(uuid.uuid4())
    out = af.create_flow(**flow_args("orders-to-lake", tags={"env": "test", "team": "data"}), clientToken=token)
    flow_arn = f"arn:aws:appflow:{REGION}:{ACCOUNT}:flow/orders-to-lake"
    check(out.get("flowArn") == flow_arn and out.get("flowStatus") == "Active", f"CreateFlow: {strip(out)}")
    again = af.create_flow(**flow_args("orders-to-lake", tags={"env": "test", "team": "data"}), clientToken=token)
    check(strip(again) == strip(out), f"CreateFlow replay with the same clientToken: {strip(again)}")
    expect_error("ConflictException", af.create_flow, **flow_args("orders-to-lake", description="other"), clientToken=token)
    expect_error("ConflictException", af.create_flow, msg_part="Flow with name orders-to-lake already exists.",
                 **flow_args("orders-to-lake"))
    expect_error("ValidationException", af.create_flow, **flow_args("has space"))
    expect_error("ValidationException", af.create_flow, **flow_args("x"))
    expect_error("ValidationException", af.create_flow, **flow_args("badtag", tags={"aws:reserved": "v"}))
    expect_error("ValidationException", af.create_flow, **flow_args("two-dests", destinationFlowConfigList=s3_dest("lake", "a") * 2))
    missing = flow_args("needs-profile")
    missing["sourceFlowConfig"] = {
        "connectorType": "Salesforce", "connectorProfileName": "sf-missing",
        "sourceConnectorProperties": {"Salesforce": {"object": "Account"}},
    }
    missing["tasks"] = [{"taskType": "Map_all", "sourceFields": [], "connectorOperator": {"Salesforce": "NO_OP"}}]
    expect_error("ResourceNotFoundException", af.create_flow, msg_part="Connector Profile with name sf-missing does not exist.",
                 **missing)

    d = af.describe_flow(flowName="orders-to-lake")
    check(d.get("flowArn") == flow_arn and d.get("flowStatus") == "Active", f"DescribeFlow: {d.get('flowArn')} {d.get('flowStatus')}")
    check(is_dt(d.get("createdAt")) and is_dt(d.get("lastUpdatedAt")), "DescribeFlow timestamps are not datetimes")
    check(d.get("kmsArn", "").startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/"), f"DescribeFlow kmsArn {d.get('kmsArn')!r}")
    check(d.get("tags") == {"env": "test", "team": "data"}, f"DescribeFlow tags {d.get('tags')}")
    check(d.get("tasks") == TASKS, f"DescribeFlow tasks not echoed: {d.get('tasks')}")
    check(d.get("sourceFlowConfig") == s3_source("raw", "in"), f"DescribeFlow sourceFlowConfig {d.get('sourceFlowConfig')}")
    check(d.get("destinationFlowConfigList") == s3_dest("lake", "orders"),
          f"DescribeFlow destinationFlowConfigList {d.get('destinationFlowConfigList')}")
    check(d.get("schemaVersion") == 1, f"DescribeFlow schemaVersion {d.get('schemaVersion')}")
    check(d.get("createdBy", "").startswith("arn:aws:iam::"), f"DescribeFlow createdBy {d.get('createdBy')!r}")
    check("lastRunExecutionDetails" not in d, "DescribeFlow has lastRunExecutionDetails before any run")
    expect_error("ResourceNotFoundException", af.describe_flow, flowName="no-such-flow")

    # The run: S3 to S3 between local buckets, output read back.
    run = af.start_flow(flowName="orders-to-lake", clientToken="run-token-1")
    eid = run.get("executionId")
    check(bool(eid) and run.get("flowStatus") == "Active" and run.get("flowArn") == flow_arn, f"StartFlow: {strip(run)}")
    replay = af.start_flow(flowName="orders-to-lake", clientToken="run-token-1")
    check(replay.get("executionId") == eid, f"StartFlow replay got executionId {replay.get('executionId')}, want {eid}")
    rec = wait_run(af, "orders-to-lake", eid)
    if rec:
        check(rec["executionStatus"] == "Successful", f"run status {rec['executionStatus']}: {rec}")
        res = rec.get("executionResult", {})
        check(res.get("recordsProcessed") == 3, f"recordsProcessed {res.get('recordsProcessed')}, want 3")
        check(is_dt(rec.get("startedAt")) and is_dt(rec.get("lastUpdatedAt")), f"record timestamps not datetimes: {rec}")
        outputs = []
        for root, _, files in os.walk(os.path.join(data, "s3", "lake")):
            outputs += [os.path.join(root, f) for f in files]
        check(len(outputs) == 1, f"output files {outputs}, want 1")
        if outputs:
            rel = os.path.relpath(outputs[0], os.path.join(data, "s3", "lake"))
            check(rel.startswith("orders/orders-to-lake/") and eid in rel, f"output key {rel!r} lacks orders/orders-to-lake/…{eid}")
            with open(outputs[0], "rb") as f:
                body = f.read()
            rows = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            want = [{"order_id": 1, "customer": "Ada", "amount": 120.5}, {"order_id": 3, "customer": "Linus", "amount": 300}]
            check(rows == want, f"output rows {rows}, want {want}")
            check(res.get("bytesWritten") == len(body), f"bytesWritten {res.get('bytesWritten')}, file has {len(body)} bytes")
    recs = af.describe_flow_execution_records(flowName="orders-to-lake")["flowExecutions"]
    check(len(recs) == 1, f"{len(recs)} execution records after a replayed StartFlow, want 1")
    d = af.describe_flow(flowName="orders-to-lake")
    lr = d.get("lastRunExecutionDetails", {})
    check(lr.get("mostRecentExecutionStatus") == "Successful" and is_dt(lr.get("mostRecentExecutionTime")),
          f"lastRunExecutionDetails {lr}")
    expect_error("UnsupportedOperationException", af.stop_flow, flowName="orders-to-lake")
    expect_error("ResourceNotFoundException", af.start_flow, flowName="no-such-flow")
    expect_error("ResourceNotFoundException", af.describe_flow_execution_records, flowName="no-such-flow")

    out = af.cancel_flow_executions(flowName="orders-to-lake", executionIds=[eid, "no-such-run"])
    check(sorted(out.get("invalidExecutions", [])) == sorted([eid, "no-such-run"]), f"CancelFlowExecutions: {strip(out)}")
    out = af.cancel_flow_executions(flowName="orders-to-lake")
    check(out.get("invalidExecutions") == [], f"CancelFlowExecutions without ids: {strip(out)}, want invalidExecutions: []")
    expect_error("ResourceNotFoundException", af.cancel_flow_executions, flowName="no-such-flow")

    # Tags by ARN (the SDK percent-encodes the whole ARN into the path).
    check(af.list_tags_for_resource(resourceArn=flow_arn).get("tags") == {"env": "test", "team": "data"}, "ListTagsForResource")
    af.tag_resource(resourceArn=flow_arn, tags={"owner": "ada@example.com", "a/b:c": "x y"})
    af.untag_resource(resourceArn=flow_arn, tagKeys=["team", "absent"])
    tags = af.list_tags_for_resource(resourceArn=flow_arn).get("tags")
    check(tags == {"env": "test", "owner": "ada@example.com", "a/b:c": "x y"}, f"tags after tag/untag: {tags}")
    expect_error("ValidationException", af.tag_resource, resourceArn=flow_arn, tags={"aws:x": "v"})
    expect_error("ValidationException", af.tag_resource, resourceArn=flow_arn, tags={"bad key": "v"})
    expect_error("ValidationException", af.tag_resource, resourceArn=flow_arn, tags={f"k{i}": "v" for i in range(51)})
    gone = f"arn:aws:appflow:{REGION}:{ACCOUNT}:flow/no-such-flow"
    expect_error("ResourceNotFoundException", af.list_tags_for_resource, resourceArn=gone)
    expect_error("ResourceNotFoundException", af.tag_resource, resourceArn=gone, tags={"a": "b"})
    expect_error("ResourceNotFoundException", af.untag_resource, resourceArn=gone, tagKeys=["a"])
    expect_error("ValidationException", af.list_tags_for_resource, resourceArn="arn:aws:s3:::bucket-1234")

    # UpdateFlow is a full replacement that keeps identity, kms and tags.
    before = af.describe_flow(flowName="orders-to-lake")
    time.sleep(0.01)
    new_tasks = TASKS[:3] + [TASKS[4]]
    out = af.update_flow(flowName="orders-to-lake", triggerConfig={"triggerType": "OnDemand"},
                         sourceFlowConfig=s3_source("raw", "in"), destinationFlowConfigList=s3_dest("lake", "orders"),
                         tasks=new_tasks, description="no names", clientToken=str(uuid.uuid4()))
    check(strip(out) == {"flowStatus": "Active"}, f"UpdateFlow returned {strip(out)}, want only flowStatus")
    after = af.describe_flow(flowName="orders-to-lake")
    for k in ("flowArn", "createdAt", "createdBy", "kmsArn", "tags"):
        check(after.get(k) == before.get(k), f"UpdateFlow changed {k}: {before.get(k)} -> {after.get(k)}")
    check(after.get("lastUpdatedAt") > before.get("lastUpdatedAt"), "UpdateFlow did not bump lastUpdatedAt")
    check(after.get("tasks") == new_tasks and after.get("description") == "no names", "UpdateFlow did not replace tasks/description")
    check(after.get("schemaVersion") == 2, f"UpdateFlow dropping a mapping left schemaVersion {after.get('schemaVersion')}")
    expect_error("ResourceNotFoundException", af.update_flow, flowName="no-such-flow", triggerConfig={"triggerType": "OnDemand"},
                 sourceFlowConfig=s3_source("raw", "in"), destinationFlowConfigList=s3_dest("lake", "orders"), tasks=TASKS)

    # Scheduled: Draft, StartFlow activates without a run, Active needs forceDelete.
    sched = {"triggerType": "Scheduled", "triggerProperties": {"Scheduled": {
        "scheduleExpression": "rate(1days)", "dataPullMode": "Incremental",
        "scheduleStartTime": datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)}}}
    out = af.create_flow(**flow_args("nightly", trigger=sched))
    recs = af.describe_flow_execution_records(flowName="nightly")
    check(recs.get("flowExecutions") == [], f"DescribeFlowExecutionRecords before any run: {strip(recs)}, want flowExecutions: []")
    check(af.list_tags_for_resource(resourceArn=out.get("flowArn", "")).get("tags") == {}, "ListTagsForResource of an untagged flow: want tags: {}")
    check(out.get("flowStatus") == "Draft", f"CreateFlow scheduled: {strip(out)}")
    d = af.describe_flow(flowName="nightly")
    st = d.get("triggerConfig", {}).get("triggerProperties", {}).get("Scheduled", {}).get("scheduleStartTime")
    check(is_dt(st), f"scheduleStartTime not a datetime: {st!r}")
    expect_error("ConflictException", af.stop_flow, flowName="nightly")
    out = af.start_flow(flowName="nightly")
    check(out.get("flowStatus") == "Active" and "executionId" not in out, f"StartFlow scheduled: {strip(out)}")
    expect_error("ConflictException", af.delete_flow, flowName="nightly",
                 msg_part="Flow is in active state, please set forceDelete to true or deactivate the flow: nightly")
    out = af.stop_flow(flowName="nightly")
    check(out.get("flowStatus") == "Suspended", f"StopFlow scheduled: {strip(out)}")
    af.start_flow(flowName="nightly")
    af.delete_flow(flowName="nightly", forceDelete=True)
    expect_error("ResourceNotFoundException", af.describe_flow, flowName="nightly")

    # ListFlows: 23 flows page 20 + 3 by default; maxResults range checked.
    for i in range(22):
        af.create_flow(**flow_args(f"flow-{i:02d}"))
    items, pages = paginate(af, "list_flows", "flows")
    names = [f["flowName"] for f in items]
    check(len(names) == 23 and len(set(names)) == 23 and "orders-to-lake" in names, f"ListFlows paging: {names}")
    if pages is not None:
        check(pages == [20, 3], f"ListFlows pages {pages}, want [20, 3]")
    for f in items:
        if f["flowName"] == "orders-to-lake":
            check(f.get("tags", {}).get("env") == "test" and is_dt(f.get("createdAt")), f"ListFlows entry {f}")
    expect_error("ValidationException", af.list_flows, maxResults=101)
    expect_error("ValidationException", af.list_flows, nextToken="not-a-token")
    for i in range(22):
        af.delete_flow(flowName=f"flow-{i:02d}")
    return flow_arn


def smoke_profile_in_use(af):
    # A Veeva source flow keeps profile zd in use.
    args = flow_args("zd-tickets")
    args["sourceFlowConfig"] = {"connectorType": "Veeva", "connectorProfileName": "zd",
                                "sourceConnectorProperties": {"Veeva": {"object": "documents"}}}
    args["tasks"] = [{"taskType": "Map_all", "sourceFields": [], "connectorOperator": {"Veeva": "NO_OP"},
                      "taskProperties": {"EXCLUDE_SOURCE_FIELDS_LIST": "[]"}}]
    af.create_flow(**args)
    expect_error("ConflictException", af.delete_connector_profile, connectorProfileName="zd",
                 msg_part="Some of the associated flows are: [zd-tickets]")
    af.delete_flow(flowName="zd-tickets")
    af.delete_connector_profile(connectorProfileName="zd")
    expect_error("ResourceNotFoundException", af.delete_connector_profile, connectorProfileName="zd")


def smoke_registrations(af, lambda_arn):
    token = str(uuid.uuid4())
    prov = {"lambda": {"lambdaArn": lambda_arn}}
    out = af.register_connector(connectorLabel="smoke_conn", description="smoke test connector",
                                connectorProvisioningType="LAMBDA", connectorProvisioningConfig=prov, clientToken=token)
    carn = f"arn:aws:appflow:{REGION}:{ACCOUNT}:connector/smoke_conn"
    check(out.get("connectorArn") == carn, f"RegisterConnector: {strip(out)}")
    again = af.register_connector(connectorLabel="smoke_conn", description="smoke test connector",
                                  connectorProvisioningType="LAMBDA", connectorProvisioningConfig=prov, clientToken=token)
    check(again.get("connectorArn") == carn, f"RegisterConnector replay: {strip(again)}")
    expect_error("ConflictException", af.register_connector, connectorLabel="smoke_conn",
                 connectorProvisioningType="LAMBDA", connectorProvisioningConfig=prov)
    expect_error("ValidationException", af.register_connector, connectorLabel="no_lambda")

    lc = af.list_connectors()
    conns = lc.get("connectors", [])
    check([c.get("connectorLabel") for c in conns] == ["smoke_conn"], f"ListConnectors: {conns}")
    if conns:
        check(is_dt(conns[0].get("registeredAt")) and conns[0].get("connectorType") == "CustomConnector", f"ListConnectors entry {conns[0]}")
    conf = af.describe_connector(connectorType="CustomConnector", connectorLabel="smoke_conn")["connectorConfiguration"]
    check(conf.get("connectorArn") == carn and conf.get("connectorLabel") == "smoke_conn", f"DescribeConnector custom: {conf}")
    out = af.update_connector_registration(connectorLabel="smoke_conn", description="updated", clientToken=str(uuid.uuid4()))
    check(out.get("connectorArn") == carn, f"UpdateConnectorRegistration: {strip(out)}")
    expect_error("ResourceNotFoundException", af.update_connector_registration, connectorLabel="nope_conn")

    # A profile on the custom connector makes it in use.
    af.create_connector_profile(
        connectorProfileName="cc-prof", connectorType="CustomConnector", connectorLabel="smoke_conn", connectionMode="Public",
        connectorProfileConfig={"connectorProfileProperties": {"CustomConnector": {}},
                                "connectorProfileCredentials": {"CustomConnector": {"authenticationType": "BASIC",
                                                                                     "basic": {"username": "u", "password": "p"}}}},
    )
    p = af.describe_connector_profiles(connectorType="CustomConnector", connectorLabel="smoke_conn")["connectorProfileDetails"]
    check([x.get("connectorLabel") for x in p] == ["smoke_conn"], f"custom profiles {p}")
    expect_error("ConflictException", af.unregister_connector, connectorLabel="smoke_conn",
                 msg_part="Some of the associated connector profiles are: [cc-prof]")
    af.unregister_connector(connectorLabel="smoke_conn", forceDelete=True)
    expect_error("ResourceNotFoundException", af.unregister_connector, connectorLabel="smoke_conn")
    af.delete_connector_profile(connectorProfileName="cc-prof", forceDelete=True)
    check(af.list_connectors().get("connectors") == [], "ListConnectors after UnregisterConnector")


def smoke_raw(endpoint):
    """What hand-written clients send: no body at all, and errors they parse."""
    import urllib.error
    import urllib.request

    def post(path, body):
        req = urllib.request.Request(endpoint + path, data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    for path in ("/list-flows", "/describe-connectors", "/describe-connector-profiles", "/list-connectors"):
        status, _, body = post(path, b"")
        check(status == 200, f"POST {path} without a body: HTTP {status} {body[:200]!r}, want 200 (same as {{}})")
    status, headers, body = post("/describe-flow", b"{}")
    hdr = {k.lower(): v for k, v in headers.items()}
    check(status == 400 and hdr.get("x-amzn-errortype") == "ValidationException", f"describe-flow {{}}: {status} {hdr}")
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    check(isinstance(doc, dict) and doc.get("message"), f"error body is not a JSON object with message: {body[:200]!r}")


def main():
    binary = os.environ.get("APPFLOWD_BIN", "appflowd")
    if shutil.which(binary) is None and not os.path.isfile(binary):
        print(f"APPFLOWD_BIN={binary!r} is not an executable", file=sys.stderr)
        return 2
    # Nothing from the user's own AWS setup leaks in.
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(k, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    data = tempfile.mkdtemp(prefix="appflowd-boto3-")
    lam = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeLambda)
    threading.Thread(target=lam.serve_forever, daemon=True).start()
    vault = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeVault)
    threading.Thread(target=vault.serve_forever, daemon=True).start()
    global VAULT_URL, VAULT_URL_NEW
    VAULT_URL = f"http://127.0.0.1:{vault.server_address[1]}"
    VAULT_URL_NEW = f"http://localhost:{vault.server_address[1]}"
    port = free_port()
    log = open(os.path.join(data, "serve.log"), "wb")
    proc = subprocess.Popen(
        [binary, "serve", "--data-dir", os.path.join(data, "d"), "--addr", f"127.0.0.1:{port}",
         "--lambda-endpoint", f"http://127.0.0.1:{lam.server_address[1]}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        if not wait_port(port, proc):
            log.flush()
            print("appflowd did not start:\n" + open(log.name, errors="replace").read(), file=sys.stderr)
            return 2
        af = boto3.client(
            "appflow", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
            aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60),
        )
        d = os.path.join(data, "d")
        for name, fn in [
            ("raw HTTP", lambda: smoke_raw(f"http://127.0.0.1:{port}")),
            ("connectors", lambda: smoke_connectors(af)),
            ("profiles", lambda: smoke_profiles(af)),
            ("flows", lambda: smoke_flows(af, d)),
            ("entities", lambda: smoke_entities(af, d)),
            ("profile in use", lambda: smoke_profile_in_use(af)),
            ("registrations", lambda: smoke_registrations(af, f"arn:aws:lambda:{REGION}:123456789012:function:smoke")),
        ]:
            print(f"--- {name}", flush=True)
            try:
                fn()
            except Exception:  # noqa: BLE001 - report and go on with the next part
                fail(f"{name}: unexpected exception\n{traceback.format_exc()}")
        if proc.poll() is not None:
            fail(f"appflowd exited with {proc.returncode}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        lam.shutdown()
        log.close()
        if FAILURES:
            print(f"server log kept in {log.name}", file=sys.stderr)
        else:
            shutil.rmtree(data, ignore_errors=True)
    if FAILURES:
        print(f"\n{len(FAILURES)} mismatch(es)", file=sys.stderr)
        return 1
    print(f"boto3 smoke: all checks passed (botocore {botocore.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
