"""How long one frame of the latent explorer takes: the round trip of a decode request to a
live `vaelab explore` server on 127.0.0.1 (HTTP, JSON in, PNG data URL out), as the page
sends them while a point is dragged. Target (issue 14): under 50 ms for the MNIST models on
2 CPU cores.

    python benchmarks/explorer_latency.py RUN [RUN ...] [--n 200]

Each run is measured with the request its kind of model gets most, as the page sends it:
`decode` (a latent point, moved a little each time; for a conditional model, the point as each
class, in one batch) or `decode_codes` (a code grid with one cell repainted each time). A run
with a code prior also gets `sample` (a grid drawn by the PixelCNN and its pictures as it fills,
one per code), which is asked for once per sample, not per frame.
Both ends disable Nagle's algorithm (the client here, as browsers do; the server on its
listening socket, serve.py): with it on, a response's separately written body waited for the
client's delayed ACK, about 40 ms a frame, which is what a first version of this measured.
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import socket
import statistics
import time

import torch

from vaelab.explore.serve import open_runs, serve_in_background


def drag(run):
    """i -> (path, body) of the i-th request of a drag over `run` (its start read once)."""
    if run.kind == "latent":
        start, busiest = run.codes[0], run.summary()["order"][0]

        def latent(i: int) -> tuple[str, dict]:
            z = start.clone()
            z[busiest] += (i % 40) / 10 - 2  # sweep the busiest dimension
            if not run.model.conditional:
                return f"/api/{run.name}/decode", {"points": [z.tolist()]}
            classes = list(range(run.model.num_classes))
            return f"/api/{run.name}/decode", {"points": [z.tolist()] * len(classes), "labels": classes}
        return latent
    grid = torch.tensor(run.code_grid(0)["codes"])  # (h, w)

    def painted(i: int) -> tuple[str, dict]:
        cells = grid.flatten().clone()
        cells[i % len(cells)] = i % run.model.num_codes  # repaint one cell
        return f"/api/{run.name}/decode_codes", {"codes": cells.view(grid.shape).tolist()}
    return painted


def samples(run):
    """i -> (path, None): the i-th prior sample of `run` (a GET)."""
    return lambda i: (f"/api/{run.name}/sample?seed={i}", None)


def measure(port: int, request, n: int) -> list[float]:
    client = http.client.HTTPConnection("127.0.0.1", port)
    client.connect()
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for i in range(n + 5):  # five warm-up requests, not counted
        path, body = request(i)
        start = time.perf_counter()
        if body is None:
            client.request("GET", path)
        else:
            client.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
        response = client.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{path}: HTTP {response.status}")
        if i >= 5:
            times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    runs = open_runs(args.runs)
    server, url = serve_in_background(runs)
    port = int(url.rstrip('/').rsplit(':', 1)[1])
    print(f"threads {torch.get_num_threads()}, {platform.processor() or platform.machine()}, torch {torch.__version__}")
    print("| run | model | request | min ms | median ms | 95th percentile ms |\n|---|---|---|---|---|---|")
    for run in runs.values():
        requests = [("decode" if run.kind == "latent" else "decode_codes", drag(run), args.n)]
        if run.kind == "codes" and run.model.can_sample:
            requests.append(("sample", samples(run), max(args.n // 20, 5)))
        for what, request, n in requests:
            times = sorted(measure(port, request, n))
            print(f"| {run.name} | {run.summary()['model']} | {what} | {times[0]:.1f} | {statistics.median(times):.1f} "
                  f"| {times[max(int(0.95 * len(times)) - 1, 0)]:.1f} |")
    server.should_exit = True


if __name__ == "__main__":
    main()
