"""Protobuf message classes described in Python: one message added to a ``FileDescriptorProto``.

guardia builds the classes it needs (remote write 1.0 and 2.0, the exposition format, the
scrape's skeleton of it) from descriptors written in Python rather than generated code, so
upb's C decoder does the parsing without protoc in the build.  Each of those files adds its
messages the same way: this is that one step.
"""

from __future__ import annotations

from typing import Any

Field = tuple[str, int, int, int, str]
"""(name, number, FieldDescriptorProto type, label, message type name or "")."""


def add_message(fd: Any, type_prefix: str, name: str, fields: list[Field]) -> None:
    """Add message ``name`` with ``fields`` to the file descriptor ``fd``; a field's message
    type name is prefixed with ``type_prefix`` (the package, e.g. ``.io.prometheus.client.``)."""
    m = fd.message_type.add(name=name)
    for fname, num, ftype, label, tname in fields:
        f = m.field.add(name=fname, number=num, type=ftype, label=label)
        if tname:
            f.type_name = type_prefix + tname
