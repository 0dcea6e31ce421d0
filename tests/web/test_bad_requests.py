"""Every kind of bad request gets Prometheus's status code, errorType and wording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "bad_requests.yml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[f"{c['path']}-{i}" for i, c in enumerate(CASES)])
def test_bad_request_gets_error_envelope(client: httpx.Client, case: dict[str, Any]) -> None:
    method = case.get("method", "POST" if case.get("form") else "GET")
    if case.get("form"):
        r = client.request(method, case["path"], data=case["params"])
    else:
        r = client.request(method, case["path"], params=case["params"])
    assert r.status_code == case["status"], r.text
    body = r.json()
    assert body["status"] == "error"
    assert body["errorType"] == case["type"]
    assert case["error"] in body["error"]
    # the server stays up and keeps answering
    assert client.get("/-/healthy").status_code == 200


def test_huge_form_body_is_refused_and_server_stays_up(client: httpx.Client) -> None:
    body = b"query=" + b"a" * (11 * 1024 * 1024)
    r = client.post(
        "/api/v1/query", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413
    assert r.json()["errorType"] == "bad_data"
    assert client.get("/api/v1/labels").json()["status"] == "success"


def test_unknown_path_is_404_and_wrong_method_405(client: httpx.Client) -> None:
    assert client.get("/api/v1/nope").status_code == 404
    assert client.delete("/api/v1/query").status_code == 405
