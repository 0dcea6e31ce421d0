"""Python checks run in the bounded pool: numbers, label-set mappings and CheckResults become
rows; one that raises or hangs is reported and delays no other."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from guardia.checks.config import load_checks
from guardia.checks.result import Status
from guardia.checks.service import CheckService
from guardia.model import Labels
from tests.checks.data import sample_checks

DATA = Path(__file__).parent / "data"


def _service(tmp_path: Path, body: str, **kw: object) -> CheckService:
    p = tmp_path / "guardia.yml"
    p.write_text(f"checks:\n{body}")
    svc = CheckService(None, **kw)  # type: ignore[arg-type]
    svc.load(load_checks(str(p)))
    return svc


def _fn(name: str, extra: str = "") -> str:
    return (f"  - name: {name}\n    timeout: 1s\n"
            f"    python: {{function: 'tests.checks.data.sample_checks:{name}'{extra}}}\n")


async def test_return_values_become_rows(tmp_path: Path) -> None:
    svc = _service(tmp_path, _fn("rows", ", args: [5]") + _fn("by_status") + _fn("result"))
    out = await svc.run_all()
    assert out["rows"].ok and out["rows"].rows == (((), 5.0),)
    assert sorted(out["by_status"].rows) == [((("status", "paid"),), 42.0), ((("status", "pending"),), 7.0)]
    r = out["result"]
    assert r.ok and r.status is Status.WARNING and r.message == "sessions growing"
    assert r.rows == (((("table", "django_session"),), 51000.0),)


async def test_a_raising_check_keeps_its_message_and_none_is_explained(tmp_path: Path) -> None:
    svc = _service(tmp_path, _fn("boom") + _fn("nothing"))
    out = await svc.run_all()
    assert not out["boom"].ok and out["boom"].message == "RuntimeError: the database said no"
    assert not out["nothing"].ok and "returned None" in out["nothing"].message


async def test_a_hung_check_times_out_and_delays_no_other(tmp_path: Path) -> None:
    sample_checks.RELEASE.clear()
    # one worker: if the hung check kept its slot, the next one could not run at all
    svc = _service(tmp_path, _fn("hang") + _fn("rows"), workers=1)
    t0 = time.monotonic()
    hung = await svc.run_once("hang")
    assert not hung.ok and hung.message == "timed out after 1s"
    ok = await svc.run_once("rows")
    assert ok.ok and time.monotonic() - t0 < 5
    again = await svc.run_once("hang")  # its thread is still stuck: not started a second time
    assert "previous run is still running" in again.message and svc.runner.hung_threads == 1
    sample_checks.RELEASE.set()
    for _ in range(100):
        if svc.runner.hung_threads == 0:
            break
        await asyncio.sleep(0.02)
    assert svc.runner.hung_threads == 0


async def test_cpu_bound_check_leaves_the_event_loop_free(tmp_path: Path) -> None:
    svc = _service(tmp_path, _fn("burn", ", kwargs: {seconds: 0.5}"))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    t = asyncio.create_task(ticker())
    out = await svc.run_once("burn")
    t.cancel()
    assert out.ok and ticks >= 10  # the loop kept running while the check burned CPU


async def test_decorated_module_checks(tmp_path: Path) -> None:
    svc = _service(tmp_path, "  - python: {module: tests.checks.data.sample_checks}\n    timeout: 2s\n")
    assert set(svc.checks) == {"session_table", "payments_failed"}
    st = svc.checks["session_table"]
    assert st.interval_ms == 3_600_000 and st.for_ms == 600_000
    assert str(st.thresholds["critical"]) == "> 100000"
    assert svc.checks["payments_failed"].labels == {"team": "payments"}
    out = await svc.run_all()
    assert out["session_table"].rows == (((), 60000.0),)
    assert out["payments_failed"].rows == (((("provider", "stripe"),), 2.0),)


async def test_import_errors_name_the_check(tmp_path: Path) -> None:
    p = tmp_path / "guardia.yml"
    p.write_text("checks:\n  - name: gone\n    python: {function: 'no_such_mod_x:f'}\n"
                 "  - name: nofn\n    python: {function: 'tests.checks.data.sample_checks:missing'}\n")
    svc = CheckService(None)
    with pytest.raises(ValueError) as e:
        svc.load(load_checks(str(p)))
    assert "check 'gone': cannot import 'no_such_mod_x': ModuleNotFoundError" in str(e.value)
    assert "check 'nofn': module 'tests.checks.data.sample_checks' has no function 'missing'" in str(e.value)


async def test_a_module_beside_the_config_is_importable(tmp_path: Path) -> None:
    (tmp_path / "teamchecks_beside.py").write_text("def n():\n    return 4\n")
    svc = _service(tmp_path, "  - name: n\n    python: {function: 'teamchecks_beside:n'}\n")
    assert (await svc.run_once("n")).rows == (((), 4.0),)


def test_series_of_a_result() -> None:
    from guardia.checks.config import Check, PythonSpec
    from guardia.checks.result import Outcome

    c = Check("q", "python", 60_000, 1000, {"team": "a"}, PythonSpec(function="m:f"))
    outcome = Outcome(True, Status.OK, (((("s", "x"),), 1.0),))
    names = [dict(lb) for lb, _ in CheckService(None).samples(c, outcome)]
    assert names[0] == dict(Labels({"__name__": "guardia_check_value", "check": "q", "team": "a", "s": "x"}))
    assert [n["__name__"] for n in names[1:]] == ["guardia_check_success", "guardia_check_status",
                                                 "guardia_check_duration_seconds"]


def test_the_pool_works_from_one_asyncio_run_to_the_next(tmp_path: Path) -> None:
    """manage.py guardia_checks and tests run checks in fresh event loops, one after another."""
    svc = _service(tmp_path, _fn("rows"))
    assert asyncio.run(svc.run_once("rows")).ok
    assert asyncio.run(svc.run_once("rows")).ok
