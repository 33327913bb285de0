"""The latent explorer's web application (Starlette): the page, its script, and a small JSON API
over the explored runs (session.py does the work).

    GET  /                              the page (static/index.html)
    GET  /static/...                    its script and style, shipped in the package
    GET  /api/runs                      each run's summary
    GET  /api/{run}/plane?axes=dims&x=..&y=..   held-out codes on two latent dimensions
    GET  /api/{run}/plane?axes=pca              ... or on their first two principal axes
    GET  /api/{run}/image/{index}       a held-out image and its code (or code grid)
    POST /api/{run}/decode              {"points": [[...], ...], "labels": [k, ...]} -> {"images": [data URL, ...]}
    POST /api/{run}/path                {"start", "end", "method"} -> {"path": [[...], ... 101 points]}
    POST /api/{run}/decode_codes        {"codes": [[...]]}         -> {"image": data URL}
    GET  /api/{run}/usage               codebook usage counts, per codebook
    GET  /api/{run}/sample?seed=..[&label=k]   a code grid drawn from the run's PixelCNN prior, and its frames

A request from an address that is not loopback gets 403 (the server also binds 127.0.0.1
only), and one naming another host than 127.0.0.1 or localhost gets 400 (a web page elsewhere
cannot reach the API by pointing its own name at this machine); a bad value gets 400 and a
run it does not serve 404, with one line of JSON, `{"error": ...}`; nothing a request sends can stop the server. A body is read
only up to MAX_BODY bytes, and a client that leaves before sending all of it gets one line
in the log (no traceback: it is not the explorer's fault) and no answer.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import traceback
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from vaelab.errors import VaelabError
from vaelab.explore.session import ExploredRun

STATIC = Path(__file__).parent / "static"
MAX_BODY = 1 << 16  # bytes of a request body: a 64 x 64 code grid as JSON fits many times
HOST_NAMES = ("127.0.0.1", "localhost")  # the Host a request may name (any port)
log = logging.getLogger(__name__)


class LoopbackOnly:
    """ASGI middleware: refuse (403) every connection whose client address is not loopback."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not is_loopback(scope.get("client")):
            await JSONResponse({"error": "the explorer answers this machine only (127.0.0.1)"}, 403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def is_loopback(client) -> bool:
    """True for a (host, port) client on 127.0.0.0/8 or ::1 (the test client's 'testclient' too)."""
    if not client:
        return False
    host = client[0]
    if host == "testclient":  # Starlette's in-process test client: no socket at all
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _body(request: Request) -> dict:
    """The request's JSON object, read up to MAX_BODY bytes (a longer body is refused before the rest is read)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise VaelabError(f"request body over {MAX_BODY} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):  # not JSON, nested too deep, or a number of thousands of digits
        raise VaelabError("the request body must be JSON (of sensible depth and numbers)") from None
    if not isinstance(body, dict):
        raise VaelabError("the request body must be a JSON object")
    return body


class UnknownRun(VaelabError):
    """A request names a run the explorer does not serve: 404, not a bad value's 400."""


def build_app(runs: dict[str, ExploredRun]) -> Starlette:
    """The application over `runs` (name -> opened run)."""

    def run_of(request: Request) -> ExploredRun:
        name = request.path_params["run"]
        if name not in runs:
            raise UnknownRun(f"no run called {name!r}; runs: {', '.join(runs)}")
        return runs[name]

    def route(path: str, work, methods=("GET",)) -> Route:
        async def endpoint(request: Request) -> JSONResponse:
            return await _answer(request, work)
        return Route(path, endpoint, methods=list(methods))

    async def plane(r):
        query = r.query_params
        return run_of(r).plane(query.get("axes", "dims"), _int(query.get("x", "0")), _int(query.get("y", "1")))

    async def image(r):
        run = run_of(r)
        index = _int(r.path_params["index"])
        return run.encoding(index) if run.kind == "latent" else run.code_grid(index)

    async def decode(r):
        body = await _body(r)
        return {"images": run_of(r).decode(body.get("points"), body.get("labels"))}

    async def path(r):
        body = await _body(r)
        return {"path": run_of(r).path(body.get("start"), body.get("end"), body.get("method", "slerp"))}

    async def decode_codes(r):
        return {"image": run_of(r).decode_codes((await _body(r)).get("codes"))}

    async def sample(r):
        label = r.query_params.get("label")
        return run_of(r).sample_codes(_int(r.query_params.get("seed", "0")), None if label is None else _int(label))

    async def usage(r):
        return {"books": run_of(r).usage()}

    async def summaries(r):
        return [run.summary() for run in runs.values()]

    async def page(r):
        return FileResponse(STATIC / "index.html")

    routes = [Route("/", page), Mount("/static", StaticFiles(directory=STATIC), name="static"),
              route("/api/runs", summaries), route("/api/{run}/plane", plane), route("/api/{run}/image/{index}", image),
              route("/api/{run}/decode", decode, ["POST"]), route("/api/{run}/path", path, ["POST"]),
              route("/api/{run}/decode_codes", decode_codes, ["POST"]), route("/api/{run}/usage", usage),
              route("/api/{run}/sample", sample)]
    # TrustedHost: a page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) is refused
    guards = [Middleware(LoopbackOnly), Middleware(TrustedHostMiddleware, allowed_hosts=list(HOST_NAMES))]
    return Starlette(routes=routes, middleware=guards)


async def _answer(request: Request, work) -> Response:
    """`work`'s answer to `request` as JSON; an unknown run as 404 and a VaelabError as 400, with
    one line; any other fault as 500; a client that left mid-body, one line in the log and an
    empty answer nobody reads."""
    try:
        return JSONResponse(await work(request))
    except ClientDisconnect:
        log.info("vaelab explorer: the client left before sending all of %s %s", request.method, request.url.path)
        return Response(status_code=400)
    except UnknownRun as e:
        return JSONResponse({"error": str(e)}, 404)
    except VaelabError as e:
        return JSONResponse({"error": str(e)}, 400)
    except Exception as e:  # a fault of the explorer's own: the traceback to the terminal, one line to the page
        traceback.print_exc()
        return JSONResponse({"error": f"internal error ({type(e).__name__}); the terminal has the details"}, 500)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise VaelabError(f"expected an integer, got {text!r}") from None
