"""The latent explorer's server: what each endpoint answers on tiny trained runs, that a bad
value gets 400 and one line (and the server keeps answering), that only loopback clients are
served, and that the command refuses a missing or unsupported run before serving."""

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from starlette.testclient import TestClient

import vaelab
from vaelab.cli import main
from vaelab.explore.app import build_app, is_loopback
from vaelab.explore.serve import loopback_socket, open_runs
from vaelab.explore.session import ExploredRun
from vaelab.runs import train_prior

ROOT = Path(__file__).resolve().parents[1]
LOCAL = "http://127.0.0.1"  # the Host the explorer answers (the test client's own "testserver" is refused)
TINY = ["data.name=shapes", "data.image_size=16", "data.num_samples=300", "data.val=60", "train.epochs=1",
        "train.progress=false"]


def tiny_run(folder, model: str, extra=()):
    """One epoch of `model` on 240 small shapes: a VQ-VAE (16 codes; 4 x 4 grid), VQ-VAE-2 (2 x 2
    and 4 x 4 grids), a residual VQ-VAE (2 stages of 4 codes) or a model of the VAE family (MLP)."""
    vq = ["model.channels=[8,8]", "model.num_codes=16", "model.code_dim=4"]
    if model == "vqvae":
        config, keys = "mnist_vqvae", vq
    elif model == "vqvae2":
        config, keys = "mnist_vqvae2", vq + ["model.top_channels=[8]", "model.res_blocks=0"]
    elif model == "rvq":
        config, keys = "mnist_rvq", ["model.channels=[8,8]", "model.num_codes=4", "model.code_dim=4",
                          "model.quantizer.num_quantizers=2"]
    else:
        config, keys = "quickstart", [f"model.name={model}", "model.backbone=mlp", "model.hidden=[32]"]
    vaelab.train(vaelab.load_config(ROOT / f"configs/{config}.yaml", TINY + keys + list(extra)), folder)
    return str(folder)


def tiny_vq_with_prior(folder, conditional: bool = False, model: str = "vqvae"):
    tiny_run(folder, model)
    train_prior(folder, ["train.epochs=1", "train.progress=false", "pixelcnn.channels=8", "pixelcnn.layers=1",
                         f"conditional={str(conditional).lower()}"])
    return str(folder)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("explore")
    return {"vae": tiny_run(base / "vae", "vae", ["model.latent_dim=3"]),
            "cvae": tiny_run(base / "cvae", "cvae", ["model.latent_dim=3"]), "vq": tiny_vq_with_prior(base / "vq"),
            "vqc": tiny_vq_with_prior(base / "vqc", conditional=True),
            "vq2": tiny_vq_with_prior(base / "vq2", model="vqvae2"), "rvq": tiny_run(base / "rvq", "rvq")}


@pytest.fixture(scope="module")
def client(folders):
    return TestClient(build_app(open_runs(list(folders.values()))), base_url=LOCAL)


def test_the_page_and_its_assets_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "explorer.js" in page.text
    for asset in ("/", "/static/explorer.js", "/static/explorer.css"):  # nothing fetched from outside
        assert "http" not in client.get(asset).text.replace("http-equiv", "")
    assert client.get("/static/explorer.js").status_code == 200


def test_each_run_says_what_it_is(client):
    runs = {r["name"]: r for r in client.get("/api/runs").json()}
    assert runs["vae"]["kind"] == "latent" and runs["vae"]["latent_dim"] == 3 and sorted(runs["vae"]["order"]) == [0, 1, 2]
    assert runs["cvae"]["conditional"] and runs["cvae"]["classes"] == 3
    assert runs["vq"]["kind"] == "codes" and runs["vq"]["num_codes"] == 16


def test_the_plane_shows_every_held_out_image_on_the_two_dimensions_asked_for(client):
    plane = client.get("/api/vae/plane?x=0&y=2").json()
    assert len(plane["points"]) == 60 and len(plane["labels"]) == 60 and plane["names"] == ["z0", "z2"]
    z = client.get("/api/vae/image/5").json()["z"]
    assert plane["points"][5] == pytest.approx([z[0], z[2]], abs=1e-4)


def test_the_pca_plane_is_the_codes_first_two_principal_axes(client):
    plane = client.get("/api/vae/plane?axes=pca").json()
    origin, axes, points = (np.array(plane[k]) for k in ("origin", "axes", "points"))
    codes = np.array([client.get(f"/api/vae/image/{i}").json()["z"] for i in range(60)])  # (N, D)
    assert axes @ axes.T == pytest.approx(np.eye(2), abs=1e-5)  # orthonormal
    assert origin == pytest.approx(codes.mean(0), abs=1e-4)
    assert points == pytest.approx((codes - origin) @ axes.T, abs=1e-3)
    # the first axis carries the most variance of any direction: more than each latent alone, or a random one
    spread = points[:, 0].var()
    directions = np.vstack([np.eye(3), np.random.default_rng(0).normal(size=(20, 3))])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    assert spread >= ((codes - origin) @ directions.T).var(0).max() - 1e-6 and spread >= points[:, 1].var()
    assert "PC1" in plane["names"][0]


def test_a_one_dimensional_latent_has_a_plane_with_an_empty_second_axis(tmp_path):
    one = TestClient(build_app(open_runs([tiny_run(tmp_path / "one", "vae", ["model.latent_dim=1"])])), base_url=LOCAL)
    plane = one.get("/api/one/plane?x=0&y=0").json()
    assert plane["names"] == ["z0", "(none)"] and plane["axes"] == [[1.0], [0.0]]
    assert all(y == 0 for _, y in plane["points"])
    assert one.get("/api/one/plane?axes=pca").status_code == 400  # two principal axes need two latents


def test_moving_the_point_changes_the_decoded_image_and_a_batch_decodes_as_its_points_alone(client):
    near, far = [0.0, 0.0, 0.0], [2.5, -2.0, 1.0]
    first, second = (client.post("/api/vae/decode", json={"points": [z]}).json()["images"][0] for z in (near, far))
    assert first.startswith("data:image/png;base64,") and first != second
    assert client.post("/api/vae/decode", json={"points": [far, near]}).json()["images"] == [second, first]


def test_a_conditional_model_decodes_the_same_z_as_each_class(client):
    body = {"points": [[0.5, 0.5, 0.5]] * 3, "labels": [0, 1, 2]}
    assert len(set(client.post("/api/cvae/decode", json=body).json()["images"])) == 3


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_the_path_runs_from_one_code_to_the_other(client, method):
    start, end = (np.array(client.get(f"/api/vae/image/{i}").json()["z"]) for i in (0, 1))
    path = np.array(client.post("/api/vae/path", json={"start": 0, "end": 1, "method": method}).json()["path"])
    assert path.shape == (101, 3)
    assert path[0] == pytest.approx(start, abs=1e-5) and path[-1] == pytest.approx(end, abs=1e-5)
    if method == "linear":
        assert path[50] == pytest.approx((start + end) / 2, abs=1e-5)


def test_painting_a_code_changes_the_decoded_grid(client):
    grid = client.get("/api/vq/image/0").json()["codes"]
    before = client.post("/api/vq/decode_codes", json={"codes": grid}).json()["image"]
    grid[0][0] = (grid[0][0] + 1) % 16
    after = client.post("/api/vq/decode_codes", json={"codes": grid}).json()["image"]
    assert before != after
    (book,) = client.get("/api/vq/usage").json()["books"]
    assert len(book["counts"]) == 16 and sum(book["counts"]) == 60 * len(grid) * len(grid[0])


def test_a_prior_sample_is_a_grid_of_codes_and_its_seed_repeats_it(client):
    grid = client.get("/api/vq/image/0").json()["codes"]
    first = client.get("/api/vq/sample?seed=3").json()["codes"]
    assert len(first) == len(grid) and len(first[0]) == len(grid[0])
    assert all(0 <= code < 16 for row in first for code in row)
    assert client.get("/api/vq/sample?seed=3").json()["codes"] == first
    assert client.get("/api/vq/sample?seed=4").json()["codes"] != first


def test_a_class_conditional_prior_draws_the_class_asked_for(client, folders):
    assert {r["name"]: r for r in client.get("/api/runs").json()}["vqc"]["conditional"]
    model = vaelab.load(folders["vqc"])
    draws = []
    for k in range(3):
        draws.append(client.get(f"/api/vqc/sample?seed=5&label={k}").json()["codes"])
        expected = model.prior.sample(1, model.code_shape, labels=torch.tensor([k]), generator=torch.Generator().manual_seed(5))
        assert draws[-1] == expected[0].tolist()
    assert len({str(d) for d in draws}) > 1  # the same seed, another class: (here, at least once) another grid


def test_a_prior_sample_comes_with_pictures_of_it_filling_that_end_at_its_decoded_grid(client, folders):
    sample = client.get("/api/vq/sample?seed=3").json()
    cells = len(sample["codes"]) * len(sample["codes"][0])
    assert sample["shown"][0] == 0 and sample["shown"][-1] == cells and sample["shown"] == sorted(set(sample["shown"]))
    assert len(sample["frames"]) == len(sample["shown"])
    assert sample["frames"][-1] == client.post("/api/vq/decode_codes", json={"codes": sample["codes"]}).json()["image"]
    # before any code is drawn, every cell holds a black image's code; halfway, the drawn half is the sample's
    black = vaelab.load(folders["vq"]).encode_codes(torch.zeros(1, 1, 16, 16))[0]  # (h, w)
    assert sample["frames"][0] == client.post("/api/vq/decode_codes", json={"codes": black.tolist()}).json()["image"]
    half = sample["shown"][len(sample["shown"]) // 2]
    mixed = torch.where(torch.arange(cells) < half, torch.tensor(sample["codes"]).flatten(), black.flatten())
    mixed_image = client.post("/api/vq/decode_codes", json={"codes": mixed.view_as(black).tolist()}).json()["image"]
    assert sample["frames"][len(sample["shown"]) // 2] == mixed_image


@pytest.mark.parametrize("method, path, body", [
    ("post", "/api/vae/decode", {"points": [[0.0, 0.0]]}),  # wrong length
    ("post", "/api/vae/decode", {"points": [[0.0, float("nan"), 0.0]]}),
    ("post", "/api/vae/decode", {"points": [[0.0, 1e9, 0.0]]}),
    ("post", "/api/vae/decode", {"points": [[0, 10**400, 0]]}),  # an integer too large for a float
    ("post", "/api/vae/decode", {"points": [[0.0, True, 0.0]]}),
    ("post", "/api/vae/decode", {"points": "zero"}),
    ("post", "/api/vae/decode", {"points": []}),
    ("post", "/api/vae/decode", {"points": [[0.0, 0.0, 0.0]] * 65}),  # over MAX_BATCH
    ("post", "/api/cvae/decode", {"points": [[0, 0, 0]], "labels": [7]}),
    ("post", "/api/cvae/decode", {"points": [[0, 0, 0]]}),  # a conditional model needs its labels
    ("post", "/api/vae/path", {"start": 0, "end": 10_000}),
    ("post", "/api/vae/path", {"start": 0, "end": 1, "method": "cubic"}),
    ("post", "/api/vae/path", {"start": 0, "end": 1, "method": []}),
    ("post", "/api/vq/decode_codes", {"codes": [[99]]}),
    ("post", "/api/vq/decode_codes", {"codes": "x"}),
    ("post", "/api/vq/decode_codes", {"codes": [[1.5] * 4] * 4}),  # a code is an integer, not rounded to one
    ("post", "/api/vq/decode_codes", {"codes": [[True] * 4] * 4}),
    ("get", "/api/vae/plane?x=0&y=9", None),
    ("get", "/api/vae/plane?x=1&y=1", None),
    ("get", "/api/vae/plane?axes=tsne", None),
    ("get", "/api/vq/plane?axes=pca", None),
    ("get", "/api/vae/image/-1", None),
    ("get", "/api/vae/usage", None),  # a capability the model does not have
    ("get", "/api/vae/sample?seed=0", None),
    ("get", "/api/vq/sample?seed=-1", None),
    ("get", "/api/vqc/sample?seed=0", None),  # a class-conditional prior needs its class
    ("get", "/api/vqc/sample?seed=0&label=3", None),
    ("get", "/api/vq/sample?seed=0&label=1", None),  # a label for a prior that takes none
])
def test_a_bad_value_gets_400_with_one_line_and_the_server_keeps_answering(client, method, path, body):
    response = client.post(path, content=_json(body)) if method == "post" else client.get(path)
    assert response.status_code == 400
    assert "\n" not in response.json()["error"] and response.json()["error"]
    assert client.get("/api/runs").status_code == 200


def test_an_unknown_run_gets_404_with_one_line(client):
    response = client.get("/api/nope/usage")
    assert response.status_code == 404 and response.json()["error"].startswith("no run called 'nope'; runs: ")


def _json(body) -> str:
    return json.dumps(body)  # NaN travels as the bare token NaN, as a careless client would send it


def test_a_body_that_is_not_a_json_object_gets_400(client):
    assert client.post("/api/vae/decode", content=b"not json").status_code == 400
    assert client.post("/api/vae/decode", content=b"[1, 2]").status_code == 400
    deep = b'{"points": ' + b"[" * 5000 + b"]" * 5000 + b"}"  # deeper than Python's recursion limit
    assert client.post("/api/vae/decode", content=deep).status_code == 400
    assert client.post("/api/vae/decode", content=b'{"points": [[' + b"9" * 5000 + b"]]}").status_code == 400


def test_a_fault_of_the_explorer_gets_500_with_one_line_and_the_server_keeps_answering(client, monkeypatch):
    def broken(self):
        raise RuntimeError("a bug")
    monkeypatch.setattr(ExploredRun, "usage", broken)
    response = client.get("/api/vq/usage")
    assert response.status_code == 500 and response.json()["error"].startswith("internal error (RuntimeError)")
    assert client.get("/api/runs").status_code == 200


def test_a_request_naming_another_host_is_refused(client):
    """A page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding) sends that name."""
    assert client.get("/api/runs", headers={"Host": "attacker.example"}).status_code == 400
    assert client.get("/api/runs", headers={"Host": "localhost:8765"}).status_code == 200


def test_code_grids_are_laid_out_as_the_grids_they_are(client):
    runs = {r["name"]: r for r in client.get("/api/runs").json()}
    assert runs["vq"]["tables"] == [{"name": "codes", "rows": 4, "cols": 4}]
    assert [t["name"] for t in runs["vq2"]["tables"]] == ["top", "bottom"] and runs["vq2"]["code_shape"] == [2 * 2 + 4 * 4]
    assert [(t["rows"], t["cols"]) for t in runs["vq2"]["tables"]] == [(2, 2), (4, 4)]
    assert [t["name"] for t in runs["rvq"]["tables"]] == ["stage 1", "stage 2"] and runs["rvq"]["code_shape"] == [2, 4, 4]
    books = client.get("/api/vq2/usage").json()["books"]
    assert [b["name"] for b in books] == ["top", "bottom"] and [sum(b["counts"]) for b in books] == [60 * 4, 60 * 16]
    codes = client.get("/api/rvq/image/0").json()["codes"]  # (S, h, w): a stack per cell
    assert client.post("/api/rvq/decode_codes", json={"codes": codes}).status_code == 200
    assert client.post("/api/rvq/decode_codes", json={"codes": codes[0]}).status_code == 400  # one stage is not a stack


def test_a_port_in_use_is_refused_with_one_line(capsys, folders):
    taken = loopback_socket(0)
    try:
        assert main(["explore", folders["vae"], "--no-browser", "--port", str(taken.getsockname()[1])]) == 2
    finally:
        taken.close()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--port" in err


def test_only_loopback_clients_are_served(client):
    assert is_loopback(("127.0.0.1", 5000)) and is_loopback(("::1", 5000))
    assert not is_loopback(("192.168.1.7", 5000)) and not is_loopback(None) and not is_loopback(("example.org", 1))
    remote = TestClient(client.app, client=("10.0.0.2", 40000), base_url=LOCAL)
    assert remote.get("/").status_code == 403 and remote.get("/api/runs").status_code == 403


def test_the_server_socket_binds_loopback_and_a_free_port():
    sock = loopback_socket(0)
    try:
        host, port = sock.getsockname()
        assert host == "127.0.0.1" and port > 0
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # no 40 ms wait on each frame
    finally:
        sock.close()


def test_a_missing_run_is_refused_before_serving(tmp_path, capsys):
    assert main(["explore", str(tmp_path / "nothing"), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing" in err


def test_a_run_of_a_model_vaelab_does_not_know_is_refused_before_serving(folders, tmp_path, capsys):
    folder = tmp_path / "odd"
    shutil.copytree(folders["vae"], folder)
    config = (folder / "config.yaml").read_text()
    (folder / "config.yaml").write_text(config.replace("name: vae\n", "name: nonesuch\n", 1))
    assert main(["explore", str(folder), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nonesuch" in err


def test_ctrl_c_stops_the_server_cleanly(folders):
    """The command in its own process: it prints its address, serves, and on SIGINT ends with
    status 0 and no traceback."""
    command = [sys.executable, "-m", "vaelab.cli", "explore", folders["vae"], "--no-browser"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", server.stdout.readline()).group(0)
        assert json.load(urllib.request.urlopen(url + "api/runs", timeout=30))[0]["name"] == "vae"
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0 and "Traceback" not in err
