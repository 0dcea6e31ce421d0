"""Sample-level constants.

Prometheus marks a series as gone with one particular NaN bit pattern, distinct from the
NaN a target may legitimately expose.  Comparing floats cannot tell them apart, so the
check looks at the bits.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported on first use: config checks never need it
    import numpy as np
    import numpy.typing as npt

STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def is_stale_nan(value: float) -> bool:
    return struct.pack("<d", value) == _STALE_BYTES


def stale_mask(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Vectorised ``is_stale_nan`` over an array of values."""
    import numpy as np
    mask: npt.NDArray[np.bool_] = np.asarray(values, dtype=np.float64).view(np.uint64) == np.uint64(
        STALE_NAN_BITS
    )
    return mask


_STALE_BYTES = struct.pack("<Q", STALE_NAN_BITS)
