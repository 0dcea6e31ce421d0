"""CPU per sample to build a remote write request body (encode + snappy), 1.0 against 2.0.

A batch of 2,000 samples, one per series (a scrape's commit: the common shape), series with
five labels as an HTTP server's counters have, 2.0 with and without per-series metadata.
Measured with ``time.process_time`` over ``REMOTE_WRITE_ENCODE_ROUNDS`` batches (default 200).
The last line is 2.0's CPU per sample divided by 1.0's."""

from __future__ import annotations

import os
import random
import time
from array import array

from guardia.model import Labels
from guardia.storage.remote.encode import PrefixTable, compress, encode_labels
from guardia.storage.remote.encode_v2 import V2Encoder, family_metadata

ROUNDS = int(os.environ.get("REMOTE_WRITE_ENCODE_ROUNDS", "200"))
N = 2000


def main() -> None:
    v1, v2 = PrefixTable(), V2Encoder()
    for i in range(N):
        lb = Labels({"__name__": "http_requests_total", "job": "api", "instance": f"10.0.0.{i % 250}:8080",
                     "code": ("200", "404", "500")[i % 3], "path": f"/api/items/{i}"})
        v1.add(i, encode_labels(lb))
        v2.add(i, lb)
    # as the queue hands them over: Python arrays of the WAL's types
    refs = array("i", range(N))
    ts = array("q", [1_700_000_000_000]) * N
    rng = random.Random(1)
    vs = array("d", (rng.random() * 1e6 for _ in range(N)))
    meta = family_metadata({"http_requests": ("http_requests", "counter", "Requests served.", "")})
    cases = {"1.0": lambda: compress(v1.encode(refs, ts, vs)),
             "2.0": lambda: compress(v2.encode(refs, ts, vs, None)),
             "2.0 + metadata": lambda: compress(v2.encode(refs, ts, vs, meta))}
    per: dict[str, float] = {}
    for name, build in cases.items():
        body = build()
        t0 = time.process_time()
        for _ in range(ROUNDS):
            build()
        per[name] = (time.process_time() - t0) / ROUNDS / N * 1e6
        print(f"{name}: {per[name]:.2f} µs CPU per sample, {len(body)} bytes per {N}-sample request")
    print(f"{per['2.0'] / per['1.0']:.1f}")


if __name__ == "__main__":
    main()
