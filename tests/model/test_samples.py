import math

import numpy as np

from guardia.model import STALE_NAN, is_stale_nan
from guardia.model.samples import stale_mask


def test_stale_nan_is_distinct_from_ordinary_nan() -> None:
    assert math.isnan(STALE_NAN)
    assert is_stale_nan(STALE_NAN)
    assert not is_stale_nan(float("nan"))
    assert not is_stale_nan(1.0)
    arr = np.array([1.0, float("nan"), STALE_NAN])
    assert stale_mask(arr).tolist() == [False, False, True]
