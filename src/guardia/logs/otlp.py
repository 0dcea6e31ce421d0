"""OTLP logs (``POST /otlp/v1/logs``, protobuf or JSON) mapped to streams as Loki 3 maps them.

Each ``ResourceLogs`` becomes one stream: the resource attributes Loki indexes by default
(``service.name``, ``k8s.pod.name``, ... ``INDEX_ATTRIBUTES``) become its labels, with dots and
other characters a label name cannot hold turned into ``_`` (``service_name``); a resource
without ``service.name`` gets ``service_name="unknown_service"``.  Everything else travels with
each line as structured metadata: the other resource attributes, the scope's name, version and
attributes, the record's attributes, ``severity_text``, ``severity_number``, ``trace_id``,
``span_id``, ``flags`` and ``observed_timestamp``.  Nested attribute values are flattened with
``_``; non-string values are written as the OpenTelemetry collector's ``AsString`` writes them.
The line is the record's body; its time ``time_unix_nano``, else ``observed_time_unix_nano``,
else the time it arrived.

Both encodings are decoded by the OpenTelemetry project's own generated messages
(``opentelemetry-proto``, which the metrics receiver uses too), so a field added upstream or
an odd but valid encoding is read as the SDKs and the Collector write it.
"""

from __future__ import annotations

import base64
import math
import re
import time
from typing import Any

import numpy as np
import orjson

from guardia.logs.chunk import encode_metadata
from guardia.logs.push import PushDecodeError
from guardia.logs.store import PushStream
from guardia.model import Labels
from guardia.model.otlp_values import hex_ids_to_base64, plain_value

# Loki's distributor.otlp.default_resource_attributes_as_index_labels
INDEX_ATTRIBUTES = frozenset({
    "cloud.availability_zone", "cloud.region", "container.name", "deployment.environment",
    "k8s.cluster.name", "k8s.container.name", "k8s.cronjob.name", "k8s.daemonset.name",
    "k8s.deployment.name", "k8s.job.name", "k8s.namespace.name", "k8s.pod.name",
    "k8s.replicaset.name", "k8s.statefulset.name", "service.instance.id", "service.name",
    "service.namespace",
})
_BAD = re.compile(r"[^a-zA-Z0-9_]")


def label_name(key: str) -> str:
    """An attribute key as a label name: ``service.name`` -> ``service_name``."""
    name = _BAD.sub("_", key)
    return "_" + name if name[:1].isdigit() else name


# ---------------------------------------------------------------- values


def as_string(v: Any) -> str:
    """An attribute or body value as the collector's ``AsString`` writes it."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "+Inf" if v > 0 else "-Inf"
        if math.isnan(v):
            return "NaN"
        return np.format_float_positional(v, trim="-")  # Go's FormatFloat(v, 'f', -1, 64)
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if v is None:
        return ""
    return orjson.dumps(_jsonable(v)).decode()


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


def _flatten(attrs: dict[str, Any], out: dict[str, str], prefix: str = "") -> None:
    for k, v in attrs.items():
        name = label_name(prefix + k)
        if isinstance(v, dict):
            _flatten(v, out, name + "_")
        else:
            out[name] = as_string(v)


# ---------------------------------------------------------------- the mapping


def to_streams(resources: list[dict[str, Any]]) -> list[PushStream]:
    """Streams from decoded ``resource_logs``: ``{"attributes": {...}, "scopes": [{"name",
    "version", "attributes", "records": [{"time", "observed", "severity_number",
    "severity_text", "body", "attributes", "flags", "trace_id", "span_id"}]}]}``."""
    now = time.time_ns()
    by_labels: dict[Labels, PushStream] = {}
    for res in resources:
        index: dict[str, str] = {}
        rest: dict[str, str] = {}
        for k, v in res["attributes"].items():
            if k in INDEX_ATTRIBUTES:
                index[label_name(k)] = as_string(v)
            else:
                _flatten({k: v}, rest)
        index.setdefault("service_name", "unknown_service")
        labels = Labels(index)
        stream = by_labels.get(labels)
        if stream is None:
            stream = by_labels[labels] = PushStream(labels, [], [], [])
        ts = stream.ts
        assert isinstance(ts, list) and stream.meta is not None
        for scope in res["scopes"]:
            scope_meta = dict(rest)
            _flatten(scope["attributes"], scope_meta)
            if scope["name"]:
                scope_meta["scope_name"] = scope["name"]
            if scope["version"]:
                scope_meta["scope_version"] = scope["version"]
            for rec in scope["records"]:
                meta = dict(scope_meta)
                _flatten(rec["attributes"], meta)
                if rec["severity_text"]:
                    meta["severity_text"] = rec["severity_text"]
                if rec["severity_number"]:
                    meta["severity_number"] = str(rec["severity_number"])
                if rec["observed"] and rec["time"]:
                    meta["observed_timestamp"] = str(rec["observed"])
                if rec["flags"]:
                    meta["flags"] = str(rec["flags"])
                if rec["trace_id"]:
                    meta["trace_id"] = rec["trace_id"]
                if rec["span_id"]:
                    meta["span_id"] = rec["span_id"]
                ts.append(rec["time"] or rec["observed"] or now)
                stream.lines.append(as_string(rec["body"]).encode())
                stream.meta.append(encode_metadata(meta))
    return [s for s in by_labels.values() if s.lines]


# ---------------------------------------------------------------- decoding


def decode_protobuf(raw: bytes) -> list[PushStream]:
    """An ``ExportLogsServiceRequest`` in protobuf."""
    # protobuf and OpenTelemetry's messages are imported on the first push: together ~3 MiB
    # resident, in every server, and most never receive OTLP logs
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped]
        ExportLogsServiceRequest,
    )

    try:
        req = ExportLogsServiceRequest.FromString(raw)
    except DecodeError as e:
        raise PushDecodeError(f"OTLP body is not a protobuf ExportLogsServiceRequest ({e}); OTLP/JSON "
                             "needs Content-Type: application/json") from None
    return to_streams(_resources(req))


def decode_json(body: bytes) -> list[PushStream]:
    """The OTLP/JSON encoding: lowerCamelCase fields (the proto's snake_case names accepted
    too), 64-bit integers as strings, enums by name or number, trace and span ids in hex."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise PushDecodeError(f"OTLP body is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise PushDecodeError('OTLP JSON body must be an object: {"resourceLogs": [...]}')
    from google.protobuf import json_format  # type: ignore[import-untyped]  # see decode_protobuf
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped]
        ExportLogsServiceRequest,
    )

    req = ExportLogsServiceRequest()
    try:
        hex_ids_to_base64(doc)
        json_format.ParseDict(doc, req, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as e:
        raise PushDecodeError(f"OTLP JSON body is not an ExportLogsServiceRequest: {e}") from None
    return to_streams(_resources(req))


def _resources(req: Any) -> list[dict[str, Any]]:
    """The request as the plain structure ``to_streams`` maps, so both encodings share it."""
    return [
        {
            "attributes": _attrs(rl.resource.attributes),
            "scopes": [
                {
                    "name": sl.scope.name,
                    "version": sl.scope.version,
                    "attributes": _attrs(sl.scope.attributes),
                    "records": [_record(r) for r in sl.log_records],
                }
                for sl in rl.scope_logs
            ],
        }
        for rl in req.resource_logs
    ]


def _record(r: Any) -> dict[str, Any]:
    return {
        "time": r.time_unix_nano,
        "observed": r.observed_time_unix_nano,
        "severity_number": int(r.severity_number),
        "severity_text": r.severity_text,
        "body": plain_value(r.body) if r.HasField("body") else "",
        "attributes": _attrs(r.attributes),
        "flags": r.flags,
        "trace_id": bytes(r.trace_id).hex(),
        "span_id": bytes(r.span_id).hex(),
    }


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: plain_value(kv.value) for kv in kvs}
