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

The protobuf wire format is read directly (as ``push`` reads Loki's): the messages are small
and a protobuf runtime would be one more dependency for one endpoint.
"""

from __future__ import annotations

import base64
import math
import re
import struct
import time
from typing import Any

import numpy as np
import orjson

from guardia.logs.chunk import encode_metadata
from guardia.logs.push import PushDecodeError, protobuf_fields
from guardia.logs.store import PushStream
from guardia.model import Labels

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


# ---------------------------------------------------------------- protobuf


def decode_protobuf(raw: bytes) -> list[PushStream]:
    """An ``ExportLogsServiceRequest``."""
    resources: list[dict[str, Any]] = []
    for num, wt, a, b in protobuf_fields(raw):
        if num != 1 or wt != 2:
            continue
        res: dict[str, Any] = {"attributes": {}, "scopes": []}
        for f, fwt, fa, fb in protobuf_fields(raw, a, b):
            if f == 1 and fwt == 2:  # Resource
                for g, gwt, ga, gb in protobuf_fields(raw, fa, fb):
                    if g == 1 and gwt == 2:
                        _pb_keyvalue(raw, ga, gb, res["attributes"])
            elif f == 2 and fwt == 2:  # ScopeLogs
                res["scopes"].append(_pb_scope(raw, fa, fb))
        resources.append(res)
    return to_streams(resources)


def _text(raw: bytes, a: int, b: int) -> str:
    return raw[a:b].decode("utf-8", "replace")


def _pb_scope(raw: bytes, a: int, b: int) -> dict[str, Any]:
    scope: dict[str, Any] = {"name": "", "version": "", "attributes": {}, "records": []}
    for f, wt, fa, fb in protobuf_fields(raw, a, b):
        if f == 1 and wt == 2:  # InstrumentationScope
            for g, gwt, ga, gb in protobuf_fields(raw, fa, fb):
                if g == 1 and gwt == 2:
                    scope["name"] = _text(raw, ga, gb)
                elif g == 2 and gwt == 2:
                    scope["version"] = _text(raw, ga, gb)
                elif g == 3 and gwt == 2:
                    _pb_keyvalue(raw, ga, gb, scope["attributes"])
        elif f == 2 and wt == 2:
            scope["records"].append(_pb_record(raw, fa, fb))
    return scope


def _pb_record(raw: bytes, a: int, b: int) -> dict[str, Any]:
    rec: dict[str, Any] = {"time": 0, "observed": 0, "severity_number": 0, "severity_text": "",
                           "body": "", "attributes": {}, "flags": 0, "trace_id": "", "span_id": ""}
    for f, wt, fa, fb in protobuf_fields(raw, a, b):
        if f == 1 and wt == 1:
            rec["time"] = struct.unpack_from("<Q", raw, fa)[0]
        elif f == 11 and wt == 1:
            rec["observed"] = struct.unpack_from("<Q", raw, fa)[0]
        elif f == 2 and wt == 0:
            rec["severity_number"] = fa
        elif f == 3 and wt == 2:
            rec["severity_text"] = _text(raw, fa, fb)
        elif f == 5 and wt == 2:
            rec["body"] = _pb_anyvalue(raw, fa, fb)
        elif f == 6 and wt == 2:
            _pb_keyvalue(raw, fa, fb, rec["attributes"])
        elif f == 8 and wt == 5:
            rec["flags"] = struct.unpack_from("<I", raw, fa)[0]
        elif f == 9 and wt == 2:
            rec["trace_id"] = raw[fa:fb].hex()
        elif f == 10 and wt == 2:
            rec["span_id"] = raw[fa:fb].hex()
    return rec


def _pb_keyvalue(raw: bytes, a: int, b: int, into: dict[str, Any]) -> None:
    key = ""
    value: Any = None
    for f, wt, fa, fb in protobuf_fields(raw, a, b):
        if f == 1 and wt == 2:
            key = _text(raw, fa, fb)
        elif f == 2 and wt == 2:
            value = _pb_anyvalue(raw, fa, fb)
    into[key] = value


def _pb_anyvalue(raw: bytes, a: int, b: int) -> Any:
    value: Any = None
    for f, wt, fa, fb in protobuf_fields(raw, a, b):
        if f == 1 and wt == 2:
            value = _text(raw, fa, fb)
        elif f == 2 and wt == 0:
            value = bool(fa)
        elif f == 3 and wt == 0:
            value = fa - (1 << 64) if fa >= 1 << 63 else fa
        elif f == 4 and wt == 1:
            value = struct.unpack_from("<d", raw, fa)[0]
        elif f == 5 and wt == 2:  # ArrayValue
            value = [_pb_anyvalue(raw, ga, gb) for g, gwt, ga, gb in protobuf_fields(raw, fa, fb)
                     if g == 1 and gwt == 2]
        elif f == 6 and wt == 2:  # KeyValueList
            value = {}
            for g, gwt, ga, gb in protobuf_fields(raw, fa, fb):
                if g == 1 and gwt == 2:
                    _pb_keyvalue(raw, ga, gb, value)
        elif f == 7 and wt == 2:
            value = raw[fa:fb]
    return value


# ---------------------------------------------------------------- JSON


def decode_json(body: bytes) -> list[PushStream]:
    """The OTLP/JSON encoding: lowerCamelCase fields (snake_case accepted too), 64-bit integers
    as strings, trace and span ids as hex."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise PushDecodeError(f"OTLP body is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise PushDecodeError('OTLP JSON body must be an object: {"resourceLogs": [...]}')
    try:
        resources = [
            {
                "attributes": _json_attrs(_get(rl.get("resource") or {}, "attributes") or []),
                "scopes": [_json_scope(sl) for sl in _get(rl, "scopeLogs", "scope_logs") or []],
            }
            for rl in _get(doc, "resourceLogs", "resource_logs") or []
        ]
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise PushDecodeError(f"OTLP JSON body is not an ExportLogsServiceRequest: {e}") from None
    return to_streams(resources)


def _get(d: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in d:
            return d[n]
    return None


def _json_scope(sl: dict[str, Any]) -> dict[str, Any]:
    scope = sl.get("scope") or {}
    return {
        "name": scope.get("name") or "",
        "version": scope.get("version") or "",
        "attributes": _json_attrs(scope.get("attributes") or []),
        "records": [_json_record(r) for r in _get(sl, "logRecords", "log_records") or []],
    }


def _json_record(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": int(_get(r, "timeUnixNano", "time_unix_nano") or 0),
        "observed": int(_get(r, "observedTimeUnixNano", "observed_time_unix_nano") or 0),
        "severity_number": _severity(_get(r, "severityNumber", "severity_number")),
        "severity_text": _get(r, "severityText", "severity_text") or "",
        "body": _json_anyvalue(r.get("body") or {}),
        "attributes": _json_attrs(r.get("attributes") or []),
        "flags": int(r.get("flags") or 0),
        "trace_id": _hex_id(_get(r, "traceId", "trace_id")),
        "span_id": _hex_id(_get(r, "spanId", "span_id")),
    }


def _severity(v: Any) -> int:
    if isinstance(v, str) and not v.isdigit():  # the enum's name, SEVERITY_NUMBER_INFO
        names = ["UNSPECIFIED", "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3",
                 "DEBUG4", "INFO", "INFO2", "INFO3", "INFO4", "WARN", "WARN2", "WARN3", "WARN4",
                 "ERROR", "ERROR2", "ERROR3", "ERROR4", "FATAL", "FATAL2", "FATAL3", "FATAL4"]
        return names.index(v.removeprefix("SEVERITY_NUMBER_"))
    return int(v or 0)


def _hex_id(v: Any) -> str:
    return str(v).lower() if v else ""


def _json_attrs(kvs: list[dict[str, Any]]) -> dict[str, Any]:
    return {kv["key"]: _json_anyvalue(kv.get("value") or {}) for kv in kvs}


def _json_anyvalue(v: dict[str, Any]) -> Any:
    if "stringValue" in v or "string_value" in v:
        return _get(v, "stringValue", "string_value")
    if "boolValue" in v or "bool_value" in v:
        return bool(_get(v, "boolValue", "bool_value"))
    if "intValue" in v or "int_value" in v:
        return int(_get(v, "intValue", "int_value"))
    if "doubleValue" in v or "double_value" in v:
        return float(_get(v, "doubleValue", "double_value"))
    if "arrayValue" in v or "array_value" in v:
        return [_json_anyvalue(x) for x in (_get(v, "arrayValue", "array_value") or {}).get("values", [])]
    if "kvlistValue" in v or "kvlist_value" in v:
        return _json_attrs((_get(v, "kvlistValue", "kvlist_value") or {}).get("values", []))
    if "bytesValue" in v or "bytes_value" in v:
        return base64.b64decode(_get(v, "bytesValue", "bytes_value"))
    return None
