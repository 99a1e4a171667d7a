"""Every benchmark still starts: its imports resolve and its options parse (`--help`).

The benchmarks are run by hand, not by `make test`, so a rename in `app/` could break one unnoticed until the
next measurement; this runs each one's command line far enough to print its usage, all in one interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SKIPPED = {"__init__", "harness"}  # a package marker and the shared helpers: no command line of their own

_RUN_EACH = """
import contextlib, io, runpy, sys
for name in sys.argv[1:]:
    sys.argv = [name, "--help"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_module(f"benchmarks.{name}", run_name="__main__", alter_sys=True)
    except SystemExit as done:
        assert done.code in (0, None), f"{name}: exit {done.code}"
    assert "usage:" in out.getvalue(), f"{name}: no usage printed"
    print(name)
"""


def test_every_benchmark_prints_its_usage() -> None:
    names = sorted(p.stem for p in (PROJECT_ROOT / "benchmarks").glob("*.py") if p.stem not in SKIPPED)
    assert len(names) >= 10, names
    done = subprocess.run([sys.executable, "-c", _RUN_EACH, *names], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == names


def test_the_benchmark_client_reconnects_when_the_server_closed_an_idle_connection() -> None:
    """The server closes a keep-alive connection left idle past NEWSQA_KEEP_ALIVE_SECONDS; a benchmark that
    paused (a cold start, another server) then wrote into a closed socket and died with a broken pipe. The
    loopback client sends once more on a new connection. A real HTTP/1.1 server on 127.0.0.1 that closes every
    connection after its answer without saying so stands in for the idle reap; plain http.client, reusing the
    connection, fails on the second request (the control)."""
    import http.client
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from benchmarks.harness import LoopbackClient

    class ClosesAfterAnswering(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            self.close_connection = True  # as the idle reap does: closed, though the answer did not say so

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ClosesAfterAnswering)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/ask"
    try:
        plain = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
        plain.request("POST", "/ask", body=b"{}")
        assert plain.getresponse().read() == b"ok"
        failed = False
        try:
            plain.request("POST", "/ask", body=b"{}")
            plain.getresponse().read()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            failed = True
        assert failed  # the control: a reused connection the server closed
        with LoopbackClient(timeout=5) as client:
            assert [client.post(url, json={}).text for _ in range(3)] == ["ok", "ok", "ok"]
    finally:
        server.shutdown()
        server.server_close()
