"""`guardia notify test` through the real CLI against local sinks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from guardia.cli.main import app
from tests.alerting.sinks import HTTPSink

CONFIG = """
route:
  receiver: ok-hook
receivers:
  - name: ok-hook
    webhook_configs: [{{url: '{sink}/hook'}}]
  - name: broken-slack
    slack_configs:
      - api_url: '{sink}/services/T01/B02/gone'
        channel: '#alerts'
  - name: placeholder-slack
    slack_configs:
      - api_url: 'https://hooks.slack.com/services/YOUR/WEBHOOK/URL'
  - name: empty
"""


async def guardia(*args: str) -> tuple[int, str, str]:
    """Run the CLI in a worker thread (it runs its own event loop) while the sink serves here."""
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_notify_test_reports_success_failure_and_placeholders(tmp_path: Path) -> None:
    ok = await HTTPSink().start()
    cfg = tmp_path / "alertmanager.yml"
    cfg.write_text(CONFIG.format(sink=ok.url))

    rc, out, err = await guardia("notify", "test", "--config", str(cfg), "--receiver", "ok-hook")
    assert rc == 0, err
    assert out.startswith("OK      ok-hook/webhook[0]: delivered in ")
    (req,) = ok.requests
    body = req.json()
    assert body["alerts"][0]["labels"]["alertname"] == "GuardiaTestNotification"
    assert "TEST notification" in body["alerts"][0]["annotations"]["summary"]

    ok.fail_first, ok.fail_status, ok.attempts = 10, 404, 0
    rc, out, _ = await guardia("notify", "test", "--config", str(cfg), "--receiver", "broken-slack")
    assert rc == 1
    assert "FAILED  broken-slack/slack[0]: unexpected status code 404 from http://127.0.0.1:" in out
    assert "sink failing on purpose" in out and "retrying will not help" in out
    assert "/gone" not in out  # webhook paths are secrets

    rc, _, err = await guardia("notify", "test", "--config", str(cfg), "--receiver", "placeholder-slack")
    assert rc == 1
    assert "REFUSED" in err and "looks like a placeholder" in err and "alertmanager.yml:" in err

    rc, _, err = await guardia("notify", "test", "--config", str(cfg), "--receiver", "nope")
    assert rc == 1 and 'receiver "nope" is not defined; defined receivers: ok-hook, broken-slack' in err

    rc, _, err = await guardia("notify", "test", "--config", str(cfg), "--receiver", "empty")
    assert rc == 1 and "has no integrations" in err
    await ok.stop()
