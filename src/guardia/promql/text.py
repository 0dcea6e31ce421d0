"""Label sets printed the way Prometheus prints them in error messages."""

from __future__ import annotations

import json

from guardia.model import Labels


def labels_str(ls: Labels) -> str:
    """``{__name__="x", a="b"}``: Go's ``labels.Labels.String()``."""
    return "{" + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in ls) + "}"
