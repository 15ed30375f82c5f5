#!/usr/bin/env python3
"""Reverse proxy in front of moto_server that adds Smithy RPC v2 CBOR for CloudWatch.

The Rust `aws-sdk-cloudwatch` speaks `smithy.protocols#rpcv2Cbor`:
    POST /service/GraniteServiceVersion20100801/operation/<Operation>
    smithy-protocol: rpc-v2-cbor, Content-Type/Accept: application/cbor, CBOR body.
moto 5.2.5 does not (it answers such a path with an HTML 404), but it does answer CloudWatch's
awsJson1_0 protocol (POST / with X-Amz-Target: GraniteServiceVersion20100801.<Operation>).

This proxy forwards every request to moto unchanged (method, path, headers, body; status, headers
and body of the answer), except rpcv2Cbor CloudWatch requests, which it translates:
    CBOR request  -> JSON request  (tag-1 timestamps -> epoch seconds, byte strings -> base64)
    JSON response -> CBOR response (timestamps -> tag 1 with a float, doubles as floats, integers
                                    as integers, blobs as byte strings), errors as a CBOR map with
                                    `__type` (absolute shape id) and `message`, same HTTP status,
                                    `x-amzn-query-error` kept (CloudWatch is awsQueryCompatible).
Shapes come from botocore's CloudWatch model (botocore is installed with moto); without botocore the
shim falls back to member-name heuristics.

Usage: moto-cbor-shim.py --listen 127.0.0.1:PORT --upstream http://127.0.0.1:MOTOPORT [--verbose]
PORT 0 picks a free port. Prints "listening on HOST:PORT" once ready; exits 0 on SIGTERM/SIGINT.
Needs Python >= 3.11 and the `cbor2` package.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import datetime as dt
import gzip
import http.client
import json
import math
import re
import signal
import sys
import threading
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cbor2

# rpcv2Cbor service name (last path segment but two) -> (botocore service, Smithy namespace,
# X-Amz-Target prefix moto routes JSON requests by).
SERVICES = {
    "GraniteServiceVersion20100801": (
        "cloudwatch",
        "com.amazonaws.cloudwatch",
        "GraniteServiceVersion20100801",
    ),
}
# "{prefix?}/service/{serviceName}/operation/{operationName}"; the service segment may also be the
# absolute shape id with '#' replaced by '.', e.g. com.amazonaws.cloudwatch.GraniteServiceVersion20100801.
RPC_PATH = re.compile(r"^(?:/.*)?/service/([^/?#]+)/operation/([^/?#]+)/?$")

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
UPSTREAM_TIMEOUT = 300

# Fallback heuristics when botocore's model is not importable.
FALLBACK_TIMESTAMP_KEYS = {"Timestamp", "Timestamps", "StartTime", "EndTime", "StartDate", "EndDate",
                           "LastUpdateDate", "CreationDate", "LastModified"}
FALLBACK_DOUBLE_KEYS = {"Threshold", "Value", "Values", "Counts", "SampleCount", "Sum", "Minimum",
                        "Maximum", "Average", "ExtendedStatistics", "Min", "Max"}


def _epoch(value: dt.datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return calendar.timegm(value.utctimetuple()) + value.microsecond / 1e6


def _parse_timestamp(value) -> float | None:
    """moto's JSON gives epoch seconds (int/float); ISO-8601 strings are accepted too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return _epoch(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return _epoch(value)
    return None


def _timestamp_tag(value):
    epoch = _parse_timestamp(value)
    if epoch is None:
        return value
    # Always a float: the Rust decoder (minicbor f64) rejects an integer inside tag 1.
    return cbor2.CBORTag(1, float(round(epoch, 3)))


def _to_float(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        special = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf}
        if value.lower() in special:
            return special[value.lower()]
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _to_int(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


class Model:
    """Shape-directed conversion with botocore's service model; heuristics without it."""

    def __init__(self, service: str):
        self.model = None
        try:
            import botocore.session  # noqa: PLC0415 (optional dependency)

            self.model = botocore.session.get_session().get_service_model(service)
        except Exception as exc:  # pragma: no cover - depends on the environment
            print(f"moto-cbor-shim: no botocore model for {service} ({exc}); using heuristics",
                  file=sys.stderr, flush=True)
        self.errors_by_name = {}
        self.errors_by_code = {}
        if self.model is not None:
            for shape in self.model.error_shapes:
                self.errors_by_name[shape.name] = shape
                code = shape.metadata.get("error", {}).get("code")
                if code:
                    self.errors_by_code.setdefault(code, shape)

    def operation(self, name: str):
        """(known, operation model or None). Without botocore every operation is 'known'."""
        if self.model is None:
            return True, None
        if name not in self.model.operation_names:
            return False, None
        return True, self.model.operation_model(name)

    # ---- CBOR request value -> JSON request value -------------------------------------------
    def request_to_json(self, value, shape=None):
        if value is None or value is cbor2.undefined:
            return None
        type_name = getattr(shape, "type_name", None)
        if isinstance(value, cbor2.CBORTag):
            value = value.value
        if isinstance(value, dt.datetime):
            return _epoch(value)
        if type_name == "timestamp" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return base64.b64encode(bytes(value)).decode("ascii")
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                sub = None
                if type_name == "structure":
                    sub = shape.members.get(key)
                elif type_name == "map":
                    sub = shape.value
                converted = self.request_to_json(item, sub)
                if converted is not None:
                    out[str(key)] = converted
            return out
        if isinstance(value, (list, tuple)):
            sub = shape.member if type_name == "list" else None
            return [self.request_to_json(item, sub) for item in value]
        return value

    # ---- JSON response value -> CBOR response value -----------------------------------------
    def response_to_cbor(self, value, shape=None, key=None):
        if value is None:
            return None
        type_name = getattr(shape, "type_name", None)
        if type_name is None and self.model is None and key is not None:
            if key in FALLBACK_TIMESTAMP_KEYS or key.endswith("Timestamp"):
                type_name = "timestamp"
            elif key in FALLBACK_DOUBLE_KEYS:
                type_name = "double"
        if isinstance(value, dict):
            out = {}
            for k, item in value.items():
                sub = None
                if type_name == "structure":
                    sub = shape.members.get(k)
                elif type_name == "map":
                    sub = shape.value
                converted = self.response_to_cbor(item, sub, k)
                if converted is not None:
                    out[k] = converted
            return out
        if isinstance(value, list):
            if type_name == "list":
                return [self.response_to_cbor(item, shape.member) for item in value]
            if type_name in ("timestamp", "double", "float"):  # heuristic list of scalars
                return [self.response_to_cbor(item, shape, key) for item in value]
            return [self.response_to_cbor(item, None) for item in value]
        if type_name == "timestamp":
            return _timestamp_tag(value)
        if type_name in ("double", "float"):
            return _to_float(value)
        if type_name in ("integer", "long", "short", "byte"):
            return _to_int(value)
        if type_name == "blob" and isinstance(value, str):
            try:
                return base64.b64decode(value)
            except ValueError:
                return value
        return value


class Shim:
    def __init__(self, upstream: str, verbose: bool):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SystemExit(f"moto-cbor-shim: bad --upstream {upstream!r}")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.verbose = verbose
        self._models: dict[str, Model] = {}
        self._lock = threading.Lock()

    def model(self, service: str) -> Model:
        with self._lock:
            if service not in self._models:
                self._models[service] = Model(service)
            return self._models[service]

    def request(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes):
        """Send one request upstream; returns (status, reason, [(header, value)], body)."""
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=UPSTREAM_TIMEOUT)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = b"" if method == "HEAD" else resp.read()
            return resp.status, resp.reason, resp.getheaders(), data
        finally:
            conn.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SDK connection pools expect
    # TCP_NODELAY, and each answer in one write: headers and body sent apart on a kept-alive
    # connection otherwise wait for the client's delayed ACK (40 ms on Linux) under Nagle.
    disable_nagle_algorithm = True
    server_version = "moto-cbor-shim"
    shim: Shim  # set on the class by main()

    def log_message(self, fmt, *args):  # noqa: D401 - http.server API
        if self.shim.verbose:
            sys.stderr.write("moto-cbor-shim: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    # ---- plumbing ----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after the chunk
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, reason: str | None = None,
              head: bool = False):
        self.send_response_only(status, reason)
        seen_length = None
        has_date = False
        for name, value in headers:
            lname = name.lower()
            if lname in HOP_BY_HOP:
                continue
            if lname == "content-length":
                seen_length = value
                continue
            has_date = has_date or lname == "date"
            self.send_header(name, value)
        if not has_date:
            self.send_header("Date", self.date_time_string())
        if head and seen_length is not None:
            self.send_header("Content-Length", seen_length)  # HEAD: the length of the entity
        elif not (status in (204, 304) or 100 <= status < 200):
            self.send_header("Content-Length", str(len(body)))
        if body and not head:
            self._headers_buffer.append(b"\r\n" + body)
            self.flush_headers()
        else:
            self.end_headers()
        self.wfile.flush()

    def _handle(self):
        try:
            body = self._read_body()
        except (ValueError, OSError) as exc:
            self._send(400, [("Content-Type", "text/plain")], f"bad request body: {exc}\n".encode())
            self.close_connection = True
            return
        path = urllib.parse.urlsplit(self.path).path
        match = RPC_PATH.match(path) if self.command == "POST" else None
        service_segment = match.group(1) if match else None
        if service_segment is not None and "." in service_segment:
            service_segment = service_segment.rsplit(".", 1)[1]
        if match and service_segment in SERVICES:
            self._handle_cbor(SERVICES[service_segment], match.group(2), body)
        else:
            self._passthrough(body)

    def _passthrough(self, body: bytes):
        headers = [(k, v) for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in ("content-length", "expect")]
        if "Host" not in self.headers:
            headers.append(("Host", f"{self.shim.host}:{self.shim.port}"))
        try:
            status, reason, resp_headers, data = self.shim.request(self.command, self.path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            self._send(502, [("Content-Type", "text/plain")], f"moto-cbor-shim: upstream error: {exc}\n".encode())
            return
        self._send(status, resp_headers, data, reason, head=self.command == "HEAD")

    # ---- rpcv2Cbor -> awsJson1_0 -------------------------------------------------------------
    def _cbor_reply(self, status: int, payload, extra_headers=(), reason=None):
        headers = [("smithy-protocol", "rpc-v2-cbor")]
        body = b""
        if payload is not None:
            headers.append(("Content-Type", "application/cbor"))
            body = cbor2.dumps(payload)
        headers.extend(extra_headers)
        self._send(status, headers, body, reason)

    def _cbor_error(self, status: int, namespace: str, name: str, message: str, extra_headers=()):
        self._cbor_reply(status, {"__type": f"{namespace}#{name}", "message": message}, extra_headers)

    def _handle_cbor(self, service_info, operation: str, body: bytes):
        service, namespace, target_prefix = service_info
        model = self.shim.model(service)
        known, op_model = model.operation(operation)
        if not known:
            self._cbor_error(404, namespace, "UnknownOperationException",
                             f"unknown operation {operation} for {service}")
            return
        try:
            encoding = self.headers.get("Content-Encoding", "").lower().strip()
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            decoded = cbor2.loads(body) if body else {}
            if decoded is None:
                decoded = {}
            if not isinstance(decoded, dict):
                raise ValueError("request body is not a CBOR map")
            input_shape = op_model.input_shape if op_model is not None else None
            json_body = json.dumps(model.request_to_json(decoded, input_shape)).encode()
        except Exception as exc:  # malformed CBOR, bad gzip, ...
            self._cbor_error(400, namespace, "SerializationException", f"could not decode request: {exc}")
            return

        drop = HOP_BY_HOP | {"content-length", "content-type", "content-encoding", "accept", "expect",
                             "smithy-protocol", "x-amz-target", "x-amzn-target"}
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in drop]
        headers += [("Content-Type", "application/x-amz-json-1.0"), ("Accept", "application/json"),
                    ("X-Amz-Target", f"{target_prefix}.{operation}")]
        try:
            status, _reason, resp_headers, data = self.shim.request("POST", "/", headers, json_body)
        except (OSError, http.client.HTTPException) as exc:
            self._cbor_error(502, namespace, "InternalServiceFault", f"moto-cbor-shim: upstream error: {exc}")
            return

        keep = []
        query_error = None
        for name, value in resp_headers:
            lname = name.lower()
            if lname in HOP_BY_HOP or lname in ("content-length", "content-type", "x-amzn-errortype",
                                                 "status", "smithy-protocol"):
                continue
            if lname == "x-amzn-query-error":
                query_error = value
            keep.append((name, value))

        try:
            parsed = json.loads(data) if data.strip() else {}
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            # moto answered with something that is not JSON (e.g. an HTML 500 for an operation it
            # does not implement): still answer in CBOR so the SDK surfaces an error, not a parse failure.
            snippet = data[:300].decode("utf-8", "replace")
            if status < 400:
                status = 500
            name = "InternalServiceFault" if status >= 500 else "InvalidParameterValueException"
            self._cbor_error(status, namespace, name,
                             f"moto returned HTTP {status} with a non-JSON body: {snippet}", keep)
            return

        if 200 <= status < 300:
            output_shape = op_model.output_shape if op_model is not None else None
            if op_model is not None and output_shape is None:
                self._cbor_reply(200, None, keep)  # Unit output: no body, no Content-Type
                return
            payload = model.response_to_cbor(parsed, output_shape)
            self._cbor_reply(200, payload, keep)
            return

        # Error: {"__type": "GraniteServiceVersion20100801#ResourceNotFound", "message"/"Message": ...}
        raw_type = str(parsed.get("__type") or "")
        if not raw_type:
            raw_type = dict((k.lower(), v) for k, v in resp_headers).get("x-amzn-errortype", "")
        name = raw_type.split(":", 1)[0].rsplit("#", 1)[-1]
        shape = model.errors_by_name.get(name)
        if shape is None and name in model.errors_by_code:
            shape = model.errors_by_code[name]
            name = shape.name
        if shape is None and query_error:
            code = query_error.split(";", 1)[0]
            shape = model.errors_by_code.get(code)
            if shape is not None:
                name = shape.name
        if not name:
            name = "InternalServiceFault" if status >= 500 else "InvalidParameterValueException"
        message = parsed.get("message", parsed.get("Message"))
        error = {"__type": f"{namespace}#{name}"}
        members = getattr(shape, "members", {}) or {}
        for key, value in parsed.items():
            if key in ("__type", "message", "Message"):
                continue
            converted = model.response_to_cbor(value, members.get(key), key)
            if converted is not None:
                error[key] = converted
        if message is not None:
            error["message"] = str(message)
            if "Message" in members:
                error["Message"] = str(message)
        if query_error is None and shape is not None:
            meta = shape.metadata.get("error", {})
            if meta.get("code"):
                fault = "Sender" if meta.get("senderFault") else "Receiver"
                keep.append(("x-amzn-query-error", f"{meta['code']};{fault}"))
        self._cbor_reply(status, error, keep)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to listen on (PORT 0: pick one)")
    parser.add_argument("--upstream", required=True, help="moto_server URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        parser.error("--listen must be HOST:PORT")
    Handler.shim = Shim(args.upstream, args.verbose)
    Handler.shim.model("cloudwatch")  # load the botocore model before announcing readiness

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server((host.strip("[]") or "127.0.0.1", int(port)), Handler)
    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    worker.start()
    bound_host, bound_port = server.server_address[:2]
    print(f"listening on {bound_host}:{bound_port}", flush=True)
    while not stop.wait(0.5):
        if not worker.is_alive():
            return 1
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
