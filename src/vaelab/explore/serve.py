"""Open run folders for the explorer and serve them on this machine only.

The server binds 127.0.0.1 (the app refuses any other client as well), on the port asked for
or a free one the system picks; it prints the address, opens a browser when one is available
(once the server answers), and stops on Ctrl-C (uvicorn's own signal handling: the requests
in flight end, then the socket closes).
"""

from __future__ import annotations

import socket
import threading
import time
import webbrowser
from pathlib import Path

from vaelab.errors import ConfigError
from vaelab.explore.session import ExploredRun

HOST = "127.0.0.1"


def open_runs(folders: list[str]) -> dict[str, ExploredRun]:
    """name -> opened run, named by folder (a repeated name gets its position: name#2)."""
    runs: dict[str, ExploredRun] = {}
    for i, folder in enumerate(folders):
        name = Path(folder).name or str(folder)
        name = name if name not in runs else f"{name}#{i + 1}"
        runs[name] = ExploredRun(folder, name)
    return runs


def loopback_socket(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0: a free port the system picks)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this (Linux): uvicorn writes a response's head and body
    # separately, and with Nagle's algorithm the body waited for the client's delayed ACK,
    # about 40 ms a frame (benchmarks/explorer_latency.py measured it: 45 ms, then 1-4 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((HOST, port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"port {port} on {HOST} cannot be used ({e.strerror}): choose another with --port, "
                          f"or 0 for a free one") from None
    # Listening from here on, so that a browser opened (or a client started) before uvicorn
    # runs waits in the backlog instead of being refused.
    sock.listen(128)
    return sock


def explorer_server(runs: dict[str, ExploredRun], port: int = 0):
    """(the uvicorn server of the explorer over `runs`, its socket on 127.0.0.1:`port`, the page's URL);
    `server.run(sockets=[sock])` serves."""
    import uvicorn

    from vaelab.explore.app import build_app

    sock = loopback_socket(port)
    server = uvicorn.Server(uvicorn.Config(build_app(runs), log_level="warning"))
    return server, sock, f"http://{HOST}:{sock.getsockname()[1]}/"


def serve_in_background(runs: dict[str, ExploredRun]):
    """Start the explorer in a daemon thread on a free loopback port, for scripts and tests:
    (the uvicorn server, set its should_exit to stop it; the page's URL)."""
    server, sock, url = explorer_server(runs)
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    _wait_until_started(server)
    return server, url


def serve(runs: dict[str, ExploredRun], port: int = 0, open_browser: bool = True) -> None:
    """Serve the explorer until Ctrl-C."""
    server, sock, url = explorer_server(runs, port)
    print(f"vaelab explorer: {url}  ({', '.join(runs)}; Ctrl-C stops it)", flush=True)
    if open_browser:
        # From a thread, once the server answers: a text-mode browser (what webbrowser picks
        # without a display) would otherwise hold this thread before the server ever ran.
        threading.Thread(target=_open_browser_when_started, args=(server, url), daemon=True).start()
    server.run(sockets=[sock])


def _open_browser_when_started(server, url: str) -> None:
    if _wait_until_started(server):
        webbrowser.open(url)  # False, and nothing else, when no browser is available


def _wait_until_started(server) -> bool:
    """Wait until the uvicorn `server` answers (True) or is told to stop first (False)."""
    while not server.started and not server.should_exit:
        time.sleep(0.05)
    return server.started
