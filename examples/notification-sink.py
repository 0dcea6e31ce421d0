"""A local stand-in for Slack, PagerDuty, webhooks and an SMTP server, for the runnable examples.

    python3 examples/notification-sink.py        # HTTP on 127.0.0.1:9095, SMTP on 127.0.0.1:2525
    python3 examples/notification-sink.py 19095 12525    # other ports

Every notification guardia sends to it is printed (path or recipient, then the first lines), so
routing can be watched without real credentials. Standard library only; stop it with Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

HTTP_PORT, SMTP_PORT = 9095, 2525


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            text = json.dumps(json.loads(body), indent=1)[:600]
        except ValueError:
            text = body[:600].decode(errors="replace")
        print(f"--- HTTP POST {self.path}\n{text}", flush=True)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 notification-sink\r\n")
    rcpt: list[str] = []
    while line := await reader.readline():
        cmd = line.decode(errors="replace").strip()
        verb = cmd.split(" ", 1)[0].upper()
        if verb == "EHLO":  # offers AUTH: the examples keep smtp_auth_username as production has it
            writer.write(b"250-notification-sink\r\n250 AUTH PLAIN LOGIN\r\n")
        elif verb == "HELO":
            writer.write(b"250 notification-sink\r\n")
        elif verb == "AUTH":  # any credentials are accepted
            words = cmd.split()
            prompts = 2 if words[1].upper() == "LOGIN" else (0 if len(words) > 2 else 1)
            for _ in range(prompts):
                writer.write(b"334 \r\n")
                await writer.drain()
                await reader.readline()
            writer.write(b"235 accepted\r\n")
        elif verb == "RCPT":
            rcpt.append(cmd.split(":", 1)[-1].strip())
            writer.write(b"250 ok\r\n")
        elif verb == "DATA":
            writer.write(b"354 end with .\r\n")
            await writer.drain()
            lines = []
            while (data := (await reader.readline()).decode(errors="replace")) not in (".\r\n", ""):
                lines.append(data.rstrip())
            subject = next((x for x in lines if x.lower().startswith("subject:")), "")
            print(f"--- SMTP to {', '.join(rcpt)}: {subject}", flush=True)
            rcpt = []
            writer.write(b"250 queued\r\n")
        elif verb == "QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 ok\r\n")
        await writer.drain()
    writer.close()


async def main(http_port: int, smtp_port: int) -> None:
    Thread(target=ThreadingHTTPServer(("127.0.0.1", http_port), Hook).serve_forever, daemon=True).start()
    server = await asyncio.start_server(smtp, "127.0.0.1", smtp_port)
    print(f"notification sink: HTTP 127.0.0.1:{http_port}, SMTP 127.0.0.1:{smtp_port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        ports = [int(a) for a in sys.argv[1:3]]
        asyncio.run(main(*(ports + [HTTP_PORT, SMTP_PORT][len(ports):])))
    except KeyboardInterrupt:
        sys.exit(0)
