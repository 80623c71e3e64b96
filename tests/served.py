"""A local HTTP server (127.0.0.1 only) standing in for an upstream host, and remote files it serves.

Use in a test module with ``from served import ServedFile, http_root  # noqa: F401`` (the fixture)::

    def test_download(http_root):
        root, ServedFile.base = http_root
        (root / "a.txt").write_bytes(b"...")
        remote = ServedFile("github", "toy/repo", "0" * 40, "a.txt", sha256)
"""

from __future__ import annotations

import http.server
import threading
from functools import partial

import pytest

from glmeval_utils.data.registry import RemoteFile


@pytest.fixture
def http_root(tmp_path):
    """``(folder, base URL)`` of a server that serves ``folder``; stopped after the test."""
    root = tmp_path / "served"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class ServedFile(RemoteFile):
    """A RemoteFile whose URL points at the test server (set ``ServedFile.base`` first)."""

    base = ""

    @property
    def url(self):
        return f"{self.base}/{self.path}"
