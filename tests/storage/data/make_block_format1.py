"""Writes ``block_format1/``: a tiny block in page format 1 (``GPG1``), the fixture that
shows blocks written before page framing (2026-12) are still read.

It was run once with the writer of main at eb93c34, the last commit writing format 1
(``PYTHONPATH=<that checkout>/src python3 make_block_format1.py block_format1``); run
with today's code it would write format 2.  ``expected.json`` holds what was written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from guardia.model import STALE_NAN, Labels
from guardia.storage.tsdb.block import BlockWriter

T0 = 1_700_000_000_000


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    w = BlockWriter(out, T0, T0 + 7_200_000, page_rows=4)
    labels, counts, ts, vs = [], [], [], []
    expected = []
    for j in range(10):
        lb = Labels({"__name__": "fixture_metric", "job": "old", "instance": f"i{j:02d}"})
        n = 30 if j < 6 else 10 + j  # pages 1 and 2: rows of equal length; page 3: not
        t = T0 + np.arange(n, dtype=np.int64) * 15_000 + (0 if j < 4 else 7 * j)  # page 1 shares its times
        if j % 3 == 0:
            v = np.arange(n, dtype=np.float64) * (j + 1)  # integer-valued rows
        else:
            v = np.round(np.sin(np.arange(n) / 5) * 100 + j, 3)  # float-valued rows
        if j == 5:
            v[7] = STALE_NAN
        labels.append(lb)
        counts.append(n)
        ts.append(t)
        vs.append(v)
        expected.append({"labels": dict(lb), "ts": t.tolist(), "bits": v.view(np.uint64).tolist()})
    w.add(labels, np.array(counts, dtype=np.int64), np.concatenate(ts), np.concatenate(vs))
    w.finish()
    (out / "expected.json").write_text(json.dumps(expected))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
