"""fetch() against a loopback HTTP server (127.0.0.1 only) serving generated files."""

import hashlib
import http.server
import socket
import threading
from functools import partial

import pytest
import torch

from vaelab.config import DataConfig
from vaelab.data import load_dataset, mnist
from vaelab.data.download import allowed_url, fetch
from vaelab.data.idx import write_idx
from vaelab.errors import DataError


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, and three special paths:

    /truncated/<name>  promises 1000 bytes, sends 10 and hangs up;
    /moved/<name>      redirects (302) to /<name> on this same loopback server;
    /offsite/<name>    redirects (302) to http://example.invalid/<name>, plain http off the machine.
    """

    def do_GET(self):
        if self.path.startswith("/truncated/"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
            return
        for prefix, target in (("/moved/", "/"), ("/offsite/", "http://example.invalid/")):
            if self.path.startswith(prefix):
                self.send_response(302)
                self.send_header("Location", target + self.path.removeprefix(prefix))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        super().do_GET()

    def log_message(self, *args):  # keep test output clean
        pass


def clear_proxies(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    """Loopback requests go straight to the loopback server, whatever the environment says."""
    clear_proxies(monkeypatch)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """(folder served, base URL ending in '/')."""
    clear_proxies(monkeypatch)
    folder = tmp_path / "served"
    folder.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def closed_port_url():
    """A loopback URL on which nothing listens: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_with_right_sha256(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"hello idx")
    root = tmp_path / "root" / "nested"  # created on demand
    path = fetch("f.gz", root, [url], sha256(b"hello idx"))
    assert path == root / "f.gz" and path.read_bytes() == b"hello idx"
    assert sorted(p.name for p in root.iterdir()) == ["f.gz"]  # no temporary left behind


def test_download_with_right_sha256_and_md5(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"hello idx")
    path = fetch("f.gz", tmp_path, [url], sha256(b"hello idx"), md5=md5(b"hello idx"))
    assert path.read_bytes() == b"hello idx"


def test_wrong_sha256_is_refused_even_if_md5_matches(server, tmp_path):
    """The md5 is only a second check: bytes with the published md5 but another SHA-256 are refused."""
    folder, url = server
    (folder / "f.gz").write_bytes(b"tampered")
    root = tmp_path / "root"
    with pytest.raises(DataError) as e:
        fetch("f.gz", root, [url], sha256(b"original"), md5=md5(b"tampered"))
    msg = str(e.value)
    assert f"checksum mismatch: got sha256 {sha256(b'tampered')}, expected {sha256(b'original')}" in msg
    assert url + "f.gz" in msg and str(root) in msg and "\n" not in msg
    assert list(root.iterdir()) == []  # neither the final nor a temporary file


def test_wrong_md5_beside_right_sha256_is_refused(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"data")
    root = tmp_path / "root"
    with pytest.raises(DataError, match=f"got md5 {md5(b'data')}, expected {md5(b'other')}"):
        fetch("f.gz", root, [url], sha256(b"data"), md5=md5(b"other"))
    assert list(root.iterdir()) == []


def test_interrupted_transfer_leaves_no_file(server, tmp_path):
    _, url = server
    root = tmp_path / "root"
    with pytest.raises(DataError, match="cut short: got 10 of 1000 bytes"):
        fetch("f.gz", root, [url + "truncated/"], sha256(b"whatever"))
    assert list(root.iterdir()) == []


def test_404_falls_back_to_next_mirror(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"data")
    path = fetch("f.gz", tmp_path, [url + "nothing-here/", url], sha256(b"data"))
    assert path.read_bytes() == b"data"


def test_bad_copy_falls_back_to_next_mirror(server, tmp_path):
    folder, url = server
    (folder / "bad").mkdir()
    (folder / "bad" / "f.gz").write_bytes(b"corrupt")
    (folder / "f.gz").write_bytes(b"data")
    assert fetch("f.gz", tmp_path, [url + "bad/", url], sha256(b"data")).read_bytes() == b"data"


def test_all_mirrors_fail_names_each_url_and_reason(server, tmp_path):
    _, url = server
    dead = closed_port_url()
    with pytest.raises(DataError) as e:
        fetch("f.gz", tmp_path, [url, dead], sha256(b"x"))
    msg = str(e.value)
    assert f"{url}f.gz (HTTP 404" in msg
    assert f"{dead}f.gz (cannot connect" in msg
    assert f"by hand (sha256 {sha256(b'x')})" in msg and str(tmp_path) in msg and "\n" not in msg


def test_unreachable_mirror(tmp_path):
    dead = closed_port_url()
    with pytest.raises(DataError, match="could not download f.gz.*cannot connect"):
        fetch("f.gz", tmp_path / "root", [dead], sha256(b"x"), timeout=5)
    assert list((tmp_path / "root").iterdir()) == []


def test_silent_server_times_out(tmp_path):
    with socket.socket() as s:  # accepts connections (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen()
        url = f"http://127.0.0.1:{s.getsockname()[1]}/"
        with pytest.raises(DataError, match="timed out"):
            fetch("f.gz", tmp_path, [url], sha256(b"x"), timeout=0.3)


def test_present_file_is_used_without_network(tmp_path):
    (tmp_path / "f.gz").write_bytes(b"local")
    path = fetch("f.gz", tmp_path, [closed_port_url()], sha256(b"local"), md5=md5(b"local"))
    assert path == tmp_path / "f.gz"


def test_present_file_with_wrong_sha256_is_an_error_and_kept(server, tmp_path):
    """Even with the md5 of the present file: SHA-256 decides, and the file is not overwritten."""
    folder, url = server
    (folder / "f.gz").write_bytes(b"good")
    (tmp_path / "f.gz").write_bytes(b"mine")
    with pytest.raises(DataError, match="delete it") as e:
        fetch("f.gz", tmp_path, [url], sha256(b"good"), md5=md5(b"mine"))
    msg = str(e.value)
    assert f"{tmp_path / 'f.gz'} has sha256 {sha256(b'mine')}, expected {sha256(b'good')}" in msg
    assert "\n" not in msg
    assert (tmp_path / "f.gz").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.gz", "served"]  # no temporary either


def test_present_file_with_wrong_md5_beside_right_sha256_is_an_error(tmp_path):
    (tmp_path / "f.gz").write_bytes(b"mine")
    with pytest.raises(DataError, match=f"has md5 {md5(b'mine')}, expected {md5(b'other')}"):
        fetch("f.gz", tmp_path, [closed_port_url()], sha256(b"mine"), md5=md5(b"other"))
    assert (tmp_path / "f.gz").read_bytes() == b"mine"


def test_download_disabled_names_the_missing_path(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"data")
    with pytest.raises(DataError, match="data.download") as e:
        fetch("f.gz", tmp_path, [url], sha256(b"data"), download=False)
    assert str(tmp_path / "f.gz") in str(e.value)
    assert not (tmp_path / "f.gz").exists()


@pytest.mark.parametrize("mirror", [
    "http://example.com/data/",
    "http://127.0.0.1.example.com/",  # a name that starts like a loopback address
    "http://localhost@example.com/",  # user "localhost" at example.com
    "ftp://127.0.0.1/",
    "file:///tmp/",
    "//example.com/",
])
def test_non_https_mirror_is_refused(server, tmp_path, mirror):
    """Refused before anything is fetched, even from a good mirror listed first."""
    folder, url = server
    (folder / "f.gz").write_bytes(b"data")
    root = tmp_path / "root"
    with pytest.raises(DataError) as e:
        fetch("f.gz", root, [url, mirror], sha256(b"data"))
    assert f"refusing mirror {mirror!r} for f.gz: downloads must use https://" in str(e.value)
    assert not root.exists()


@pytest.mark.parametrize("url, ok", [
    ("https://example.com/f.gz", True),
    ("HTTPS://example.com/f.gz", True),
    ("http://127.0.0.1:8000/f.gz", True),
    ("http://localhost/f.gz", True),
    ("http://[::1]:8000/f.gz", True),
    ("http://example.com/f.gz", False),
    ("http://127.0.0.2/f.gz", False),  # loopback too, but not one of the three hosts allowed
    ("http://localhost.example.com/f.gz", False),
    ("http://localhost@example.com/f.gz", False),
    ("https:///f.gz", False),  # no host
    ("ftp://127.0.0.1/f.gz", False),
    ("file:///etc/passwd", False),
])
def test_allowed_url(url, ok):
    assert allowed_url(url) is ok


def test_redirect_on_loopback_is_followed(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"data")
    assert fetch("f.gz", tmp_path / "root", [url + "moved/"], sha256(b"data")).read_bytes() == b"data"


def test_redirect_to_plain_http_is_refused(server, tmp_path):
    folder, url = server
    (folder / "f.gz").write_bytes(b"data")
    root = tmp_path / "root"
    with pytest.raises(DataError) as e:
        fetch("f.gz", root, [url + "offsite/"], sha256(b"data"))
    assert f"{url}offsite/f.gz (redirected to http://example.invalid/f.gz, which is not https; refused)" \
        in str(e.value)
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("pins", [
    {"sha256": md5(b"x")},  # an md5 where the SHA-256 belongs
    {"sha256": sha256(b"x").upper()},
    {"sha256": sha256(b"x"), "md5": sha256(b"x")},
])
def test_malformed_pinned_digest_is_a_bug(tmp_path, pins):
    (tmp_path / "f.gz").write_bytes(b"x")
    with pytest.raises(ValueError, match="lowercase hex digits"):
        fetch("f.gz", tmp_path, [], **pins)


def test_load_dataset_downloads_fashion_mnist(server, tmp_path, monkeypatch):
    """End to end: load_dataset fetches the official file names from the (patched) mirrors."""
    folder, url = server
    images = torch.randint(0, 256, (30, 28, 28), dtype=torch.uint8)
    labels = torch.arange(30, dtype=torch.uint8) % 10
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    files = {f.name: f.read_bytes() for f in folder.iterdir()}
    monkeypatch.setitem(mnist.MIRRORS, "fashion-mnist", [closed_port_url(), url])
    monkeypatch.setitem(mnist.SHA256, "fashion-mnist", {name: sha256(data) for name, data in files.items()})
    monkeypatch.setitem(mnist.MD5, "fashion-mnist", {name: md5(data) for name, data in files.items()})

    root = tmp_path / "cache"
    splits = load_dataset(DataConfig(name="fashion-mnist", root=str(root), split="train", val=10))
    assert sorted(p.name for p in root.iterdir()) == sorted(files)
    assert torch.equal(splits.train.images[:, 0], images[:20])
    assert torch.equal(splits.val.labels, labels[20:].long())
    assert splits.train.class_names[0] == "T-shirt/top" and splits.train.num_classes == 10


def test_load_dataset_refuses_a_mirror_copy_with_the_wrong_sha256(server, tmp_path, monkeypatch):
    folder, url = server
    write_idx(folder / "train-images-idx3-ubyte.gz", torch.zeros(3, 28, 28, dtype=torch.uint8))
    monkeypatch.setitem(mnist.MIRRORS, "mnist", [url])  # the real pinned digests stay
    root = tmp_path / "cache"
    with pytest.raises(DataError, match=f"expected {mnist.SHA256['mnist']['train-images-idx3-ubyte.gz']}"):
        load_dataset(DataConfig(name="mnist", root=str(root), split="train"))
    assert list(root.iterdir()) == []
