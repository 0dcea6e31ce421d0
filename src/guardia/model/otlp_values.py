"""OpenTelemetry's ``AnyValue`` and OTLP/JSON ids, shared by the metrics and the logs receivers.

Both receivers decode with the generated ``opentelemetry-proto`` messages; what they share is
how a value leaves the message (as plain Python, so each can then write it the way its peer
does: Prometheus's label text, Loki's structured metadata) and the one place where OTLP/JSON
departs from protobuf's JSON mapping. The functions take the messages duck-typed, so this
module needs no protobuf import.
"""

from __future__ import annotations

import base64
from typing import Any

_ID_KEYS = ("traceId", "spanId", "trace_id", "span_id")


def plain_value(value: Any) -> Any:
    """An ``AnyValue`` as str, bool, int, float, bytes, list, dict, or None when unset."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [plain_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: plain_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON writes trace and span ids in hex where protobuf's JSON mapping has base64;
    rewrite them in place so ``json_format.ParseDict`` reads them."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in _ID_KEYS and isinstance(v, str):
                try:
                    node[k] = base64.b64encode(bytes.fromhex(v)).decode()
                except ValueError:
                    raise ValueError(f"{k} {v!r} is not hex") from None
            else:
                hex_ids_to_base64(v)
    elif isinstance(node, list):
        for v in node:
            hex_ids_to_base64(v)
