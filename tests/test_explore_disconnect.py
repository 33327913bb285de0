"""The explorer and a client that leaves mid-body (issue 25, item 11): one quiet log line, no
traceback and no internal error; and a body over MAX_BODY is refused before the rest of it is
read. The ASGI app is called directly, then served by uvicorn on a real socket."""

import asyncio
import json
import logging
import socket
import time

from vaelab.explore.app import MAX_BODY, build_app
from vaelab.explore.serve import serve_in_background

LEFT = "the client left before sending all of POST /api/run/decode"


def call(messages):
    """POST /api/run/decode to the explorer's app (no runs: the body is read first), the client
    sending `messages` (an iterator of ASGI receive messages); (what the app sent, messages taken)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/run/decode", "raw_path": b"/api/run/decode", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    sent, taken = [], [0]

    async def receive():
        taken[0] += 1
        return next(messages)

    async def send(message):
        sent.append(message)

    asyncio.run(build_app({})(scope, receive, send))
    return sent, taken[0]


def test_a_client_leaving_mid_body_is_one_quiet_log_line(caplog, capfd):
    caplog.set_level(logging.INFO)
    sent, _ = call(iter([{"type": "http.request", "body": b'{"points": [[0.1, ', "more_body": True},
                         {"type": "http.disconnect"}]))
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ClientDisconnect" not in err, err
    assert [r.getMessage() for r in caplog.records if "explore" in r.name] == [f"vaelab explorer: {LEFT}"]
    assert all(r.exc_info is None and r.levelno < logging.WARNING for r in caplog.records)
    assert not any(b"internal error" in m.get("body", b"") for m in sent)


def test_a_body_over_the_limit_is_refused_before_the_rest_is_read():
    chunk = {"type": "http.request", "body": b" " * MAX_BODY, "more_body": True}
    sent, taken = call(iter([chunk] * 100 + [{"type": "http.request", "body": b"{}", "more_body": False}]))
    assert sent[0]["status"] == 400 and json.loads(sent[1]["body"]) == {"error": f"request body over {MAX_BODY} bytes"}
    assert taken <= 2  # not the 101 messages the client would send


def test_a_served_explorer_logs_one_line_when_a_client_leaves_mid_body(caplog, capfd):
    caplog.set_level(logging.INFO)
    server, url = serve_in_background({})
    try:
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"POST /api/run/decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 1000\r\n\r\n{\"points\": [[0.1, ")
        deadline = time.monotonic() + 30
        while not any(LEFT in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.should_exit = True
    err = capfd.readouterr().err
    assert any(LEFT in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert "Traceback" not in err and "ClientDisconnect" not in err, err
    assert all(r.exc_info is None and r.levelno < logging.WARNING for r in caplog.records)
