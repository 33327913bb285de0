"""The latent explorer's server: what each endpoint answers on tiny trained runs, that a bad
value gets 400 and one line (and the server keeps answering), that only loopback clients are
served, and that the command refuses a missing or unsupported run before serving."""

import json
import socket
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import vaelab
from vaelab.cli import main
from vaelab.explore.app import build_app, is_loopback
from vaelab.explore.serve import loopback_socket, open_runs
from vaelab.runs import train_prior

ROOT = Path(__file__).resolve().parents[1]
TINY = ["data.name=shapes", "data.image_size=16", "data.num_samples=300", "data.val=60", "train.epochs=1",
        "train.progress=false"]


def tiny_run(folder, model: str, extra=()):
    """One epoch of `model` on 240 small shapes: a VQ-VAE (16 codes) or a model of the VAE family (MLP)."""
    if model == "vqvae":
        config, keys = "mnist_vqvae", ["model.channels=[8,8]", "model.num_codes=16", "model.code_dim=4"]
    else:
        config, keys = "quickstart", [f"model.name={model}", "model.backbone=mlp", "model.hidden=[32]"]
    vaelab.train(vaelab.load_config(ROOT / f"configs/{config}.yaml", TINY + keys + list(extra)), folder)
    return str(folder)


def tiny_vq_with_prior(folder):
    tiny_run(folder, "vqvae")
    train_prior(folder, ["train.epochs=1", "train.progress=false", "pixelcnn.channels=8", "pixelcnn.layers=1"])
    return str(folder)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    base = tmp_path_factory.mktemp("explore")
    folders = [tiny_run(base / "vae", "vae", ["model.latent_dim=3"]), tiny_run(base / "cvae", "cvae", ["model.latent_dim=3"]),
               tiny_vq_with_prior(base / "vq")]
    return TestClient(build_app(open_runs(folders)))


def test_the_page_and_its_assets_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "explorer.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing fetched from outside
    assert client.get("/static/explorer.js").status_code == 200


def test_each_run_says_what_it_is(client):
    runs = {r["name"]: r for r in client.get("/api/runs").json()}
    assert runs["vae"]["kind"] == "latent" and runs["vae"]["latent_dim"] == 3 and sorted(runs["vae"]["order"]) == [0, 1, 2]
    assert runs["cvae"]["conditional"] and runs["cvae"]["classes"] == 3
    assert runs["vq"]["kind"] == "codes" and runs["vq"]["num_codes"] == 16


def test_the_plane_shows_every_held_out_image_with_its_label(client):
    plane = client.get("/api/vae/plane?x=0&y=2").json()
    assert len(plane["points"]) == 60 and len(plane["points"][0]) == 2 and len(plane["labels"]) == 60


def test_moving_the_point_changes_the_decoded_image(client):
    first = client.post("/api/vae/decode", json={"z": [0.0, 0.0, 0.0]}).json()["image"]
    second = client.post("/api/vae/decode", json={"z": [2.5, -2.0, 1.0]}).json()["image"]
    assert first.startswith("data:image/png;base64,") and first != second


def test_a_conditional_model_decodes_the_same_z_as_each_class(client):
    images = {client.post("/api/cvae/decode", json={"z": [0.5, 0.5, 0.5], "label": k}).json()["image"] for k in range(3)}
    assert len(images) == 3


def test_the_path_runs_from_one_code_to_the_other(client):
    start = client.get("/api/vae/image/0").json()["z"]
    end = client.get("/api/vae/image/1").json()["z"]
    for t, expected in [(0.0, start), (1.0, end)]:
        z = client.post("/api/vae/path", json={"start": 0, "end": 1, "t": t, "method": "linear"}).json()["z"]
        assert z == pytest.approx(expected, abs=1e-5)


def test_painting_a_code_changes_the_decoded_grid(client):
    grid = client.get("/api/vq/image/0").json()["codes"]
    before = client.post("/api/vq/decode_codes", json={"codes": grid}).json()["image"]
    grid[0][0] = (grid[0][0] + 1) % 16
    after = client.post("/api/vq/decode_codes", json={"codes": grid}).json()["image"]
    assert before != after
    counts = client.get("/api/vq/usage").json()["counts"]
    assert len(counts) == 16 and sum(counts) == 60 * len(grid) * len(grid[0])


def test_a_prior_sample_is_a_grid_of_codes_and_its_seed_repeats_it(client):
    grid = client.get("/api/vq/image/0").json()["codes"]
    first = client.get("/api/vq/sample?seed=3").json()["codes"]
    assert len(first) == len(grid) and len(first[0]) == len(grid[0])
    assert all(0 <= code < 16 for row in first for code in row)
    assert client.get("/api/vq/sample?seed=3").json()["codes"] == first
    assert client.get("/api/vq/sample?seed=4").json()["codes"] != first


@pytest.mark.parametrize("method, path, body", [
    ("post", "/api/vae/decode", {"z": [0.0, 0.0]}),  # wrong length
    ("post", "/api/vae/decode", {"z": [0.0, float("nan"), 0.0]}),
    ("post", "/api/vae/decode", {"z": [0.0, 1e9, 0.0]}),
    ("post", "/api/vae/decode", {"z": "zero"}),
    ("post", "/api/cvae/decode", {"z": [0, 0, 0], "label": 7}),
    ("post", "/api/vae/path", {"start": 0, "end": 10_000, "t": 0.5}),
    ("post", "/api/vae/path", {"start": 0, "end": 1, "t": 2}),
    ("post", "/api/vq/decode_codes", {"codes": [[99]]}),
    ("post", "/api/vq/decode_codes", {"codes": "x"}),
    ("get", "/api/vae/plane?x=0&y=9", None),
    ("get", "/api/vae/image/-1", None),
    ("get", "/api/nope/usage", None),
    ("get", "/api/vae/usage", None),  # a capability the model does not have
    ("get", "/api/vae/sample?seed=0", None),
    ("get", "/api/vq/sample?seed=-1", None),
])
def test_a_bad_value_gets_400_with_one_line_and_the_server_keeps_answering(client, method, path, body):
    response = client.post(path, content=_json(body)) if method == "post" else client.get(path)
    assert response.status_code == 400
    assert "\n" not in response.json()["error"] and response.json()["error"]
    assert client.get("/api/runs").status_code == 200


def _json(body) -> str:
    return json.dumps(body)  # NaN travels as the bare token NaN, as a careless client would send it


def test_a_body_that_is_not_a_json_object_gets_400(client):
    assert client.post("/api/vae/decode", content=b"not json").status_code == 400
    assert client.post("/api/vae/decode", content=b"[1, 2]").status_code == 400


def test_only_loopback_clients_are_served(client):
    assert is_loopback(("127.0.0.1", 5000)) and is_loopback(("::1", 5000))
    assert not is_loopback(("192.168.1.7", 5000)) and not is_loopback(None) and not is_loopback(("example.org", 1))
    remote = TestClient(client.app, client=("10.0.0.2", 40000))
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
