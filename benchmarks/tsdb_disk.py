"""Bytes per sample on disk in compacted blocks.

20,000 realistic series (200 targets) scraped every 15 s for 9 h; ``maintain`` cuts the
head into 2 h blocks and compacts the first three into one 6 h block, as the server
does.  Reports the size of every block file (index and meta included) per sample.
"""

from __future__ import annotations

import tempfile

import numpy as np

from benchmarks._data import Workload
from guardia.storage.tsdb import TSDB, TSDBOptions


def main() -> None:
    w = Workload(200, seed=4)
    with tempfile.TemporaryDirectory() as d:
        db = TSDB.open(d, TSDBOptions(retention_ms=0))
        app = db.appender()
        refs = np.array([app.ref(lb) for lb in w.labels], dtype=np.int64)
        for k in range(9 * 240 + 1):
            app.append_batch(refs, int(w.scrape_times(k)[0]), w.step())
            app.commit()
            if k % 40 == 39:
                db.maintain()
        db.maintain()
        for b in db.blocks:
            print(f"block {b.ulid} level {b.level}: {(b.maxt + 1 - b.mint) / 3.6e6:.0f} h, "
                  f"{b.num_series} series, {b.num_samples} samples, {b.size_bytes()} bytes, "
                  f"{b.size_bytes() / b.num_samples:.3f} bytes/sample")
        compacted = [b for b in db.blocks if b.level > 1] or db.blocks
        size = sum(b.size_bytes() for b in compacted)
        samples = sum(b.num_samples for b in compacted)
        db.close()
    print(f"tsdb_disk: {size / samples:.3f} bytes/sample in compacted blocks")


if __name__ == "__main__":
    main()
