"""``limit_ratio`` picks the series Prometheus picks: the label hash is XXH64 over
``name 0xff value 0xff`` (``labels.Labels.Hash``), checked here against Debian's libxxhash (an
implementation independent of guardia's), and the cut is ``hash / 2^64 < r``."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random

import pytest

from guardia.model import Labels
from guardia.model.labelhash import labels_hash, xxh64
from guardia.promql import Engine, EngineOptions
from guardia.storage.memory import MemoryStorage


def _libxxhash() -> ctypes.CDLL:
    name = ctypes.util.find_library("xxhash") or "libxxhash.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        pytest.skip("Debian's libxxhash0 is not installed (scripts/system-packages.txt installs it)")
    lib.XXH64.restype = ctypes.c_uint64
    lib.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
    return lib


def _reference_hash(lib: ctypes.CDLL, labels: Labels) -> int:
    buf = b"".join(n.encode() + b"\xff" + v.encode() + b"\xff" for n, v in labels)
    return int(lib.XXH64(buf, len(buf), 0))


def test_xxh64_equals_libxxhash_at_every_length_and_for_known_vectors() -> None:
    lib = _libxxhash()
    rnd = random.Random(7)
    for n in range(0, 260):  # every tail length, below and above the 32-byte stripes
        for _ in range(3):
            data = rnd.randbytes(n)
            assert xxh64(data) == lib.XXH64(data, n, 0), n
    big = os.urandom(5000)
    assert xxh64(big) == lib.XXH64(big, len(big), 0)
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"abc") == 0x44BC2CF5AD770999


def test_label_hash_of_unicode_and_long_label_sets() -> None:
    lib = _libxxhash()
    for labels in (
        Labels({"__name__": "up", "job": "api"}),
        Labels({"__name__": "cola.longitud", "cola": "envíos", "nodo": "n1"}),
        Labels({"__name__": "m", **{f"l{i}": "v" * 40 for i in range(40)}}),  # > 1 KiB: Go streams it
        Labels(),
    ):
        assert labels_hash(labels) == _reference_hash(lib, labels)


@pytest.mark.parametrize("ratio", [0.1, 0.25, 0.5, 0.9, -0.1, -0.5, -0.75])
def test_the_kept_series_are_those_whose_hash_is_below_the_ratio(ratio: float) -> None:
    lib = _libxxhash()
    st = MemoryStorage()
    series = [Labels({"__name__": "queue_depth", "queue": q, "node": f"n{i}"})
              for q in ("mail", "sms", "push") for i in range(40)]
    for k, labels in enumerate(series):
        st.add_series(labels, [0, 60_000], [float(k), float(k)])
    res = Engine(EngineOptions()).instant(st, f"limit_ratio({ratio}, queue_depth)", 60_000)
    got = {tuple(s.labels) for s in res.value}
    offsets = {tuple(lbl): _reference_hash(lib, lbl) / 2.0**64 for lbl in series}
    want = {k for k, o in offsets.items() if (o < ratio if ratio >= 0 else o >= 1 + ratio)}
    assert got == want
    assert 0 < len(want) < len(series)  # the cut falls inside this input: the test can tell
    values = {tuple(s.labels): float(s.v) for s in res.value}
    assert all(values[tuple(lbl)] == float(k) for k, lbl in enumerate(series) if tuple(lbl) in got)


def test_a_ratio_out_of_range_is_capped_with_prometheus_warning() -> None:
    st = MemoryStorage()
    st.add_series(Labels({"__name__": "m", "a": "1"}), [0], [1.0])
    res = Engine(EngineOptions()).instant(st, "limit_ratio(1.1, m)", 0)
    assert len(res.value) == 1
    assert res.warnings == [
        "PromQL warning: ratio value should be between -1 and 1, got 1.1, capping to 1"]


def test_a_nan_ratio_is_an_error() -> None:
    st = MemoryStorage()
    st.add_series(Labels({"__name__": "m"}), [0], [1.0])
    with pytest.raises(Exception, match="Ratio value is NaN"):
        Engine(EngineOptions()).instant(st, "limit_ratio(NaN, m)", 0)
