"""A loopback HTTP file server for download tests, with Range support and a way to break transfers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class ServerLog:
    """What the server saw: request paths and Range headers."""

    requests: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    #: file name -> number of bytes to send before dropping the connection (once)
    truncate_once: dict[str, int] = field(default_factory=dict)


class _RangeHandler(SimpleHTTPRequestHandler):
    def __init__(self, *args, log: ServerLog, **kwargs):
        self.log = log
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.log.requests.append(self.path)
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        range_header = self.headers.get("Range")
        if range_header:
            self.log.ranges.append(range_header)
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.log.truncate_once.pop(path.name, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class FileServer:
    """Serves ``root`` on 127.0.0.1 on a free port until :meth:`close`."""

    def __init__(self, root: Path):
        self.log = ServerLog()
        handler = partial(_RangeHandler, directory=str(root), log=self.log)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
