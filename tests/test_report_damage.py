"""`vaelab report` on a run folder that holds hostile pictures (issue 25, item 9): a PNG whose
header claims 60000 x 60000 pixels, a file too large to embed, a link to a picture outside
the folder and a named pipe are each skipped unread, with a note on the page saying so; the
pictures beside them are still shown, and the command exits 0."""

import io
import os
import struct
import threading
import zlib
from pathlib import Path

import pytest
from PIL import Image

from vaelab.cli import main
from vaelab.report.pictures import MAX_PICTURE_BYTES


def png(width: int = 8, height: int = 8) -> bytes:
    """A real 8 x 8 PNG whose IHDR chunk then claims `width` x `height` pixels (with a valid CRC)."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # CRC of the chunk's type and data
    return bytes(data)


def report(folder: Path, tmp_path: Path, capsys) -> str:
    out = tmp_path / "report.html"
    assert main(["report", str(folder), "-o", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    return out.read_text()


@pytest.fixture
def run(tmp_path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "fine.png").write_bytes(png())
    return folder


def test_a_picture_claiming_billions_of_pixels_is_skipped_unread(run, tmp_path, capsys):
    (run / "samples.png").write_bytes(png(60000, 60000))
    page = report(run, tmp_path, capsys)
    assert "samples.png not shown: its header claims 60,000 x 60,000 pixels" in page and "skipped" in page
    assert "<b>fine.png</b>" in page  # the others are still shown


def test_a_picture_larger_than_a_report_embeds_is_skipped_unread(run, tmp_path, capsys):
    with open(run / "large.png", "wb") as f:  # a sparse file: nothing written but its header
        f.write(png())
        f.truncate(MAX_PICTURE_BYTES + 1)
    page = report(run, tmp_path, capsys)
    assert f"large.png not shown: is {MAX_PICTURE_BYTES + 1:,} bytes" in page and "<b>fine.png</b>" in page


def test_a_link_to_a_picture_outside_the_folder_is_not_embedded(run, tmp_path, capsys):
    (tmp_path / "private.png").write_bytes(png())
    (run / "samples.png").symlink_to(tmp_path / "private.png")
    page = report(run, tmp_path, capsys)
    assert "samples.png not shown: is a link" in page and page.count("data:image/png") == 1  # fine.png alone


def test_a_named_pipe_in_place_of_a_picture_does_not_hold_the_report(run, tmp_path, capsys):
    os.mkfifo(run / "samples.png")
    pages = []
    worker = threading.Thread(target=lambda: pages.append(report(run, tmp_path, capsys)), daemon=True)
    worker.start()
    worker.join(60)
    assert pages, "the report waited on the pipe"
    assert "samples.png not shown: is not a plain file" in pages[0]
