"""What the app does when it is made, so that the first requests do not pay for it."""

from __future__ import annotations

import subprocess
import sys

from guardia.web.app import WARM_IMPORTS


def test_making_the_app_imports_what_first_requests_would() -> None:
    """In a fresh interpreter, once the app is made (numpy.ma is what ``np.unique``
    imports on its first call: without this, a dashboard's first page paid for it)."""
    code = (
        "import sys\n"
        "from guardia.promql import Engine\n"
        "from guardia.storage.memory import MemoryStorage\n"
        "from guardia.web import AppDeps, create_app\n"
        "from guardia.web.api_v1 import ApiDeps\n"
        f"names = {WARM_IMPORTS!r}\n"
        "s = MemoryStorage()\n"
        "create_app(AppDeps(api=ApiDeps(storage=s, engine=Engine())))\n"
        "print([n for n in names if n not in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
