#!/usr/bin/env python3
"""End-to-end test of scripts/moto-cbor-shim.py against a real moto_server.

Run from the repo root with the venv that `scripts/moto install` makes:
    .venv/bin/python scripts/test_moto_cbor_shim.py

Starts moto_server and the shim on free ports, sends hand-built Smithy RPC v2 CBOR requests for
CloudWatch (as the Rust aws-sdk-cloudwatch does), checks the decoded CBOR answers, checks that other
services pass through unchanged (boto3 SQS/S3/STS pointed at the shim), checks that botocore's own
rpcv2Cbor CloudWatch client works through the shim, and that the shim exits 0 on SIGTERM.
Prints one line per check and "N passed, M failed"; exits non-zero on any failure.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import gzip
import http.client
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.model
import cbor2
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
SHIM = ROOT / "scripts" / "moto-cbor-shim.py"
REGION = "us-east-1"
ACCOUNT = "123456789012"
RPC_PREFIX = "/service/GraniteServiceVersion20100801/operation/"
NS = "com.amazonaws.cloudwatch"

results: list[tuple[str, bool, str]] = []


def check(name):
    """Decorator that runs the check at once, records pass/fail, and never stops the rest."""

    def run(fn):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - report every failure the same way
            detail = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, AssertionError):
                detail += "\n" + traceback.format_exc()
            results.append((name, False, detail))
            print(f"FAIL {name}: {detail}", flush=True)
        else:
            results.append((name, True, ""))
            print(f"ok   {name}", flush=True)
        return fn

    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


# ---- a strict little CBOR reader, to see the wire types cbor2 hides (what is inside tag 1) ------
def cbor_tag1_payload_types(data: bytes) -> list[str]:
    """Return the CBOR type of every tag-1 payload in `data` ('float' or 'int' or other)."""
    found: list[str] = []

    def arg(pos: int, info: int) -> tuple[int, int]:
        if info < 24:
            return info, pos
        size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
        if size is None:
            if info == 31:
                return -1, pos  # indefinite length
            raise ValueError(f"bad additional info {info}")
        return int.from_bytes(data[pos:pos + size], "big"), pos + size

    def item(pos: int) -> int:
        head = data[pos]
        major, info = head >> 5, head & 0x1F
        pos += 1
        if major in (0, 1):
            _, pos = arg(pos, info)
            return pos
        if major in (2, 3):
            n, pos = arg(pos, info)
            if n == -1:
                while data[pos] != 0xFF:
                    pos = item(pos)
                return pos + 1
            return pos + n
        if major in (4, 5):
            n, pos = arg(pos, info)
            count = n * (2 if major == 5 else 1)
            if n == -1:
                while data[pos] != 0xFF:
                    pos = item(pos)
                return pos + 1
            for _ in range(count):
                pos = item(pos)
            return pos
        if major == 6:
            tag, pos = arg(pos, info)
            if tag == 1:
                inner = data[pos]
                found.append("float" if inner in (0xF9, 0xFA, 0xFB) else
                             "int" if inner >> 5 in (0, 1) else f"0x{inner:02x}")
            return item(pos)
        # major 7: simple values and floats
        return pos + {24: 1, 25: 2, 26: 4, 27: 8}.get(info, 0)

    end = item(0)
    assert end == len(data), f"trailing bytes after CBOR item ({end} of {len(data)})"
    return found


class Env:
    def __init__(self):
        self.procs: list[subprocess.Popen] = []
        self.moto_port = free_port()
        self.shim_port = 0
        self.shim: subprocess.Popen | None = None
        self.conn: http.client.HTTPConnection | None = None
        self.creds = botocore.credentials.Credentials("testing", "testing")

    def start(self):
        bindir = Path(sys.executable).parent
        moto_server = bindir / "moto_server"
        if not moto_server.exists():
            raise SystemExit(f"{moto_server} not found: run scripts/moto install and use .venv/bin/python")
        moto = subprocess.Popen([str(moto_server), "-H", "127.0.0.1", "-p", str(self.moto_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(moto)
        wait_listening(self.moto_port, moto)
        self.shim = subprocess.Popen(
            [sys.executable, str(SHIM), "--listen", "127.0.0.1:0",
             "--upstream", f"http://127.0.0.1:{self.moto_port}"],
            stdout=subprocess.PIPE, stderr=None, text=True)
        self.procs.append(self.shim)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.shim.stdout.readline()), daemon=True)
        reader.start()
        reader.join(30)
        if not line or not line[0].startswith("listening on 127.0.0.1:"):
            raise RuntimeError(f"shim did not announce itself: {line!r}")
        self.shim_port = int(line[0].strip().rsplit(":", 1)[1])
        self.endpoint = f"http://127.0.0.1:{self.shim_port}"

    def stop(self):
        if self.conn is not None:
            self.conn.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    # One persistent connection, as an SDK's pool would use (checks keep-alive + Content-Length).
    def rpc(self, operation: str, payload=None, *, body: bytes | None = None, headers=None,
            gzip_body: bool = False):
        if body is None:
            body = cbor2.dumps(payload) if payload is not None else b""
        hdrs = {"smithy-protocol": "rpc-v2-cbor", "Accept": "application/cbor"}
        if body:
            hdrs["Content-Type"] = "application/cbor"
        if gzip_body:
            body = gzip.compress(body)
            hdrs["Content-Encoding"] = "gzip"
        hdrs.update(headers or {})
        url = f"{self.endpoint}{RPC_PREFIX}{operation}"
        req = botocore.awsrequest.AWSRequest("POST", url, data=body, headers=hdrs)
        botocore.auth.SigV4Auth(self.creds, "monitoring", REGION).add_auth(req)
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.shim_port, timeout=30)
        try:
            self.conn.request("POST", RPC_PREFIX + operation, body, dict(req.headers.items()))
            resp = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = None
            raise
        raw = resp.read()
        decoded = cbor2.loads(raw) if raw else None
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw, decoded

    def client(self, service: str, **kw):
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint,
                            aws_access_key_id="testing", aws_secret_access_key="testing", **kw)


def assert_eq(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def assert_cbor_headers(headers, what, body=True):
    assert_eq(headers.get("smithy-protocol"), "rpc-v2-cbor", f"{what} smithy-protocol header")
    if body:
        assert_eq(headers.get("content-type"), "application/cbor", f"{what} content-type")


ALARM = "converge-shim-test-alarm"
ALARM_ARN = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{ALARM}"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:converge-alerts"


def run_checks(env: Env):
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)

    @check("PutMetricAlarm (Dimensions, AlarmActions, Tags) -> 200, Unit output has no body")
    def _():
        status, headers, raw, _ = env.rpc("PutMetricAlarm", {
            "AlarmName": ALARM,
            "AlarmDescription": "converge shim test",
            "ActionsEnabled": True,
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/EC2",
            "Statistic": "Average",
            "Dimensions": [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}],
            "Period": 60,
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 2,
            "Threshold": 80.5,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "breaching",
            "AlarmActions": [TOPIC],
            "OKActions": [TOPIC],
            "Tags": [{"Key": "team", "Value": "sre"}],
        })
        assert_eq(status, 200, "status")
        assert_cbor_headers(headers, "PutMetricAlarm", body=False)
        assert_eq(raw, b"", "body of a Unit output")
        assert "content-type" not in headers, f"Unit output must not set Content-Type: {headers}"

    @check("DescribeAlarms by AlarmNames -> alarm with the right fields and types")
    def _():
        status, headers, raw, out = env.rpc("DescribeAlarms", {"AlarmNames": [ALARM]})
        assert_eq(status, 200, "status")
        assert_cbor_headers(headers, "DescribeAlarms")
        assert isinstance(out, dict), f"not a map: {out!r}"
        alarms = out.get("MetricAlarms")
        assert isinstance(alarms, list) and len(alarms) == 1, f"MetricAlarms: {alarms!r}"
        a = alarms[0]
        assert_eq(a["AlarmName"], ALARM, "AlarmName")
        assert_eq(a["AlarmArn"], ALARM_ARN, "AlarmArn")
        assert_eq(a["AlarmDescription"], "converge shim test", "AlarmDescription")
        assert_eq(a["Dimensions"], [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}], "Dimensions")
        assert_eq(a["AlarmActions"], [TOPIC], "AlarmActions")
        assert_eq(a["OKActions"], [TOPIC], "OKActions")
        assert_eq(a["MetricName"], "CPUUtilization", "MetricName")
        assert_eq(a["Namespace"], "AWS/EC2", "Namespace")
        assert_eq(a["ComparisonOperator"], "GreaterThanOrEqualToThreshold", "ComparisonOperator")
        assert_eq(a["TreatMissingData"], "breaching", "TreatMissingData")
        assert_eq(a["ActionsEnabled"], True, "ActionsEnabled")
        for key, value, typ in (("Period", 60, int), ("EvaluationPeriods", 3, int),
                                ("DatapointsToAlarm", 2, int), ("Threshold", 80.5, float)):
            assert_eq(a[key], value, key)
            assert type(a[key]) is typ, f"{key} should decode as {typ.__name__}, got {type(a[key]).__name__}"
        now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
        for key in ("StateUpdatedTimestamp", "AlarmConfigurationUpdatedTimestamp"):
            ts = a.get(key)
            assert isinstance(ts, dt.datetime), f"{key} should be a CBOR tag-1 datetime, got {ts!r}"
            assert ts.tzinfo is not None and started <= ts <= now, f"{key} out of range: {ts}"
        assert "StateValue" in a, "StateValue missing"
        # Rust's decoder (minicbor f64) only takes a float inside tag 1: check the wire types.
        kinds = cbor_tag1_payload_types(raw)
        assert kinds and all(k == "float" for k in kinds), f"tag-1 payloads: {kinds}"

    @check("ListTagsForResource -> tags from PutMetricAlarm")
    def _():
        status, headers, _, out = env.rpc("ListTagsForResource", {"ResourceARN": ALARM_ARN})
        assert_eq(status, 200, "status")
        assert_cbor_headers(headers, "ListTagsForResource")
        assert_eq(out, {"Tags": [{"Key": "team", "Value": "sre"}]}, "output")

    @check("TagResource -> 200 with an empty map (output without members); tag visible after")
    def _():
        status, headers, raw, out = env.rpc("TagResource", {
            "ResourceARN": ALARM_ARN, "Tags": [{"Key": "env", "Value": "test"}]})
        assert_eq(status, 200, "status")
        assert_cbor_headers(headers, "TagResource")
        assert_eq(raw, b"\xa0", "raw body")
        assert_eq(out, {}, "output")
        _, _, _, out = env.rpc("ListTagsForResource", {"ResourceARN": ALARM_ARN})
        tags = sorted((t["Key"], t["Value"]) for t in out["Tags"])
        assert_eq(tags, [("env", "test"), ("team", "sre")], "tags after TagResource")

    @check("error: TagResource on an unknown ARN -> 404, __type ResourceNotFoundException, query error")
    def _():
        status, headers, _, out = env.rpc("TagResource", {
            "ResourceARN": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:does-not-exist",
            "Tags": [{"Key": "k", "Value": "v"}]})
        assert_eq(status, 404, "status")
        assert_cbor_headers(headers, "error")
        assert_eq(out.get("__type"), f"{NS}#ResourceNotFoundException", "__type")
        assert isinstance(out.get("message"), str), f"message: {out!r}"
        assert_eq(headers.get("x-amzn-query-error"), "ResourceNotFoundException;Sender", "x-amzn-query-error")
        assert "x-amzn-errortype" not in headers, "X-Amzn-ErrorType should not be sent"

    @check("error: ListMetrics with an invalid NextToken -> 400 InvalidParameterValueException")
    def _():
        status, headers, _, out = env.rpc("ListMetrics", {"NextToken": "not-a-token"})
        assert_eq(status, 400, "status")
        assert_cbor_headers(headers, "error")
        assert_eq(out.get("__type"), f"{NS}#InvalidParameterValueException", "__type")
        assert_eq(out.get("message"), "Request parameter NextToken is invalid", "message")
        assert_eq(headers.get("x-amzn-query-error"), "InvalidParameterValue;Sender", "x-amzn-query-error")

    @check("error: SetAlarmState on a missing alarm -> 404 ResourceNotFound")
    def _():
        status, _, _, out = env.rpc("SetAlarmState", {
            "AlarmName": "does-not-exist", "StateValue": "ALARM", "StateReason": "test"})
        assert_eq(status, 404, "status")
        assert_eq(out.get("__type"), f"{NS}#ResourceNotFound", "__type")
        assert "message" in out, f"message missing: {out!r}"

    @check("error: unknown operation -> CBOR error with __type")
    def _():
        status, headers, _, out = env.rpc("NoSuchOperation", {})
        assert status in (400, 404), f"status {status}"
        assert_cbor_headers(headers, "unknown operation")
        assert "UnknownOperation" in out.get("__type", ""), f"__type: {out!r}"

    @check("error: malformed CBOR body -> 400 CBOR error")
    def _():
        status, headers, _, out = env.rpc("DescribeAlarms", body=b"\xff\x00garbage")
        assert_eq(status, 400, "status")
        assert_cbor_headers(headers, "malformed")
        assert "__type" in out and "message" in out, f"{out!r}"

    @check("PutMetricData (gzip body, tag-1 timestamp) + GetMetricStatistics (tag-1 range)")
    def _():
        at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=2)
        status, _, raw, _ = env.rpc("PutMetricData", {
            "Namespace": "Converge/Test",
            "MetricData": [{"MetricName": "Widgets", "Timestamp": at, "Value": 3.0, "Unit": "Count",
                            "Dimensions": [{"Name": "Kind", "Value": "blue"}]}],
        }, gzip_body=True)
        assert_eq(status, 200, f"PutMetricData status (body {raw!r})")
        status, _, raw, out = env.rpc("GetMetricStatistics", {
            "Namespace": "Converge/Test", "MetricName": "Widgets",
            "Dimensions": [{"Name": "Kind", "Value": "blue"}],
            "StartTime": at - dt.timedelta(minutes=5), "EndTime": at + dt.timedelta(minutes=5),
            "Period": 60, "Statistics": ["Sum", "SampleCount"]})
        assert_eq(status, 200, "GetMetricStatistics status")
        points = out.get("Datapoints")
        assert isinstance(points, list) and len(points) == 1, f"Datapoints: {out!r}"
        p = points[0]
        assert isinstance(p["Timestamp"], dt.datetime), f"Timestamp: {p!r}"
        assert type(p["Sum"]) is float and p["Sum"] == 3.0, f"Sum: {p!r}"
        assert type(p["SampleCount"]) is float, f"SampleCount should be a float (double): {p!r}"
        assert all(k == "float" for k in cbor_tag1_payload_types(raw)), "tag-1 payloads must be floats"

    @check("concurrent CBOR requests (threaded server)")
    def _():
        def one(_):
            conn = http.client.HTTPConnection("127.0.0.1", env.shim_port, timeout=30)
            try:
                body = cbor2.dumps({"AlarmNames": [ALARM]})
                conn.request("POST", RPC_PREFIX + "DescribeAlarms", body, {
                    "smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor",
                    "Accept": "application/cbor",
                    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/monitoring/"
                                     "aws4_request, SignedHeaders=host, Signature=0"})
                resp = conn.getresponse()
                return resp.status, cbor2.loads(resp.read())
            finally:
                conn.close()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(16)))
        for status, out in answers:
            assert_eq(status, 200, "status")
            assert_eq(len(out["MetricAlarms"]), 1, "alarms")

    @check("DeleteAlarms -> 200; DescribeAlarms then finds nothing")
    def _():
        status, headers, raw, _ = env.rpc("DeleteAlarms", {"AlarmNames": [ALARM]})
        assert_eq(status, 200, "status")
        assert_cbor_headers(headers, "DeleteAlarms", body=False)
        assert_eq(raw, b"", "body of a Unit output")
        _, _, _, out = env.rpc("DescribeAlarms", {"AlarmNames": [ALARM]})
        assert_eq(out.get("MetricAlarms"), [], "MetricAlarms after delete")

    @check("passthrough: boto3 SQS (awsJson) CreateQueue/ListQueues via the shim")
    def _():
        sqs = env.client("sqs")
        url = sqs.create_queue(QueueName="converge-shim-q")["QueueUrl"]
        urls = sqs.list_queues().get("QueueUrls", [])
        assert url in urls, f"{url} not in {urls}"
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        msgs = sqs.receive_message(QueueUrl=url).get("Messages", [])
        assert_eq([m["Body"] for m in msgs], ["hello"], "message bodies")

    @check("passthrough: boto3 S3 (REST-XML) put/head/get object, STS (query) GetCallerIdentity")
    def _():
        s3 = env.client("s3", config=botocore.config.Config(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="converge-shim-bucket")
        payload = os.urandom(70_000)
        s3.put_object(Bucket="converge-shim-bucket", Key="k", Body=payload)
        head = s3.head_object(Bucket="converge-shim-bucket", Key="k")
        assert_eq(head["ContentLength"], len(payload), "HEAD Content-Length")
        got = s3.get_object(Bucket="converge-shim-bucket", Key="k")["Body"].read()
        assert got == payload, "GET body differs"
        try:
            s3.head_object(Bucket="converge-shim-bucket", Key="missing")
            raise AssertionError("HEAD of a missing key succeeded")
        except ClientError as err:
            assert_eq(err.response["ResponseMetadata"]["HTTPStatusCode"], 404, "missing key status")
        ident = env.client("sts").get_caller_identity()
        assert_eq(ident["Account"], ACCOUNT, "STS account")

    @check("botocore's own rpcv2Cbor CloudWatch client works through the shim")
    def _():
        # botocore prefers awsJson over rpcv2Cbor for CloudWatch; put CBOR first while the client's
        # protocol is resolved (test-only), so an independent CBOR implementation talks to the shim.
        saved = botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
        botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = ("smithy-rpc-v2-cbor",) + tuple(
            p for p in saved if p != "smithy-rpc-v2-cbor")
        try:
            cw = env.client("cloudwatch")
        finally:
            botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = saved
        paths: list[str] = []
        cw.meta.events.register("before-send.cloudwatch",
                                lambda request, **_: paths.append(request.url))
        cw.put_metric_alarm(AlarmName="boto-alarm", MetricName="M", Namespace="N", Statistic="Sum",
                            Period=60, EvaluationPeriods=1, Threshold=1,
                            ComparisonOperator="GreaterThanThreshold",
                            Dimensions=[{"Name": "D", "Value": "v"}], AlarmActions=[TOPIC],
                            Tags=[{"Key": "a", "Value": "b"}])
        alarms = cw.describe_alarms(AlarmNames=["boto-alarm"])["MetricAlarms"]
        assert_eq(len(alarms), 1, "alarms")
        assert isinstance(alarms[0]["StateUpdatedTimestamp"], dt.datetime), alarms[0]
        assert_eq(alarms[0]["Threshold"], 1.0, "Threshold")
        assert_eq(cw.list_tags_for_resource(ResourceARN=alarms[0]["AlarmArn"])["Tags"],
                  [{"Key": "a", "Value": "b"}], "tags")
        try:
            cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
            raise AssertionError("SetAlarmState on a missing alarm succeeded")
        except ClientError as err:
            assert_eq(err.response["Error"]["Code"], "ResourceNotFound", "error code")
        cw.delete_alarms(AlarmNames=["boto-alarm"])
        assert not cw.describe_alarms(AlarmNames=["boto-alarm"])["MetricAlarms"], "alarm not deleted"
        assert paths and all(RPC_PREFIX in p for p in paths), f"botocore did not use rpcv2Cbor: {paths}"

    @check("shim exits 0 on SIGTERM")
    def _():
        env.conn and env.conn.close()
        env.conn = None
        env.shim.send_signal(signal.SIGTERM)
        code = env.shim.wait(10)
        assert_eq(code, 0, "exit status")


def main() -> int:
    env = Env()
    try:
        env.start()
        print(f"moto on {env.moto_port}, shim on {env.shim_port}", flush=True)
        run_checks(env)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        results.append(("setup", False, "exception"))
    finally:
        env.stop()
    passed = sum(1 for _, ok, _ in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
