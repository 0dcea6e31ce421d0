"""Run guardia's Alertmanager with its API v2 in a separate process (for kill -9 tests).

Usage: python -m tests.alerting.run_am CONFIG DATA_DIR PORT_FILE
Writes the bound port to PORT_FILE once serving.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from guardia.alerting import Alertmanager
from guardia.config.alertmanager import load_alertmanager_config
from guardia.web.alertmanager_api import routes


async def main(config: str, data_dir: str, port_file: str) -> None:
    am = Alertmanager(load_alertmanager_config(config), data_dir=data_dir)
    await am.start()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes(am)), host="127.0.0.1", port=0,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    Path(port_file).write_text(str(server.servers[0].sockets[0].getsockname()[1]))
    await task


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
