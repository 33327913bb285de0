import math

import pytest
import torch
import torch.nn.functional as F

from vaelab.data import shapes
from vaelab.data.shapes import FACTOR_NAMES, FACTOR_SIZES, factor_values, make_shapes, render_shapes
from vaelab.errors import ConfigError

SQUARE, ELLIPSE, HEART = 0, 1, 2


def render(rows, size=64):
    """float [N, S, S] in {0, 1} for a list of factor-index rows."""
    return render_shapes(torch.tensor(rows), size)[:, 0].float() / 255


def centroid(image):
    """(column, row) centre of mass of a [S, S] image, in pixel indices."""
    idx = torch.arange(image.shape[-1], dtype=torch.float32)
    mass = image.sum()
    return (image.sum(0) * idx).sum() / mass, (image.sum(1) * idx).sum() / mass


def expected_centre(pos, size=64):
    # Documented mapping: centre at 0.2 + 0.6 * pos in image units; pixel j covers [j, j + 1).
    return (0.2 + 0.6 * pos / 31) * size - 0.5


def test_deterministic_for_a_seed_and_different_for_another():
    a, b, c = make_shapes(200, 32, seed=1), make_shapes(200, 32, seed=1), make_shapes(200, 32, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)
    assert not torch.equal(a.factors, c.factors) and not torch.equal(a.images, c.images)


def test_dataset_fields_and_factor_ranges():
    d = make_shapes(3000, 16, seed=0)
    assert d.images.shape == (3000, 1, 16, 16) and d.images.dtype == torch.uint8
    assert set(d.images.unique().tolist()) == {0, 255}
    assert d.factors.shape == (3000, 5) and d.factors.dtype == torch.int64
    assert d.factor_names == FACTOR_NAMES == ["shape", "scale", "orientation", "pos_x", "pos_y"]
    assert d.factor_sizes == FACTOR_SIZES == [3, 6, 40, 32, 32]
    for f, n in enumerate(FACTOR_SIZES):  # uniform draws: every value appears, none outside
        assert d.factors[:, f].unique().tolist() == list(range(n))
    assert torch.equal(d.labels, d.factors[:, 0]) and d.num_classes == 3
    assert d.class_names == ["square", "ellipse", "heart"]
    assert (d.images.flatten(1).amax(1) == 255).all()  # every image shows its shape


def test_factor_values():
    v = factor_values(torch.tensor([[0, 0, 0, 0, 0], [2, 5, 10, 31, 31], [1, 1, 39, 16, 8]]))
    assert v.dtype == torch.float32
    assert v[0].tolist() == [0, 0.5, 0, 0, 0]
    assert v[1].tolist() == pytest.approx([2, 1.0, math.pi / 2, 1, 1])
    assert v[2].tolist() == pytest.approx([1, 0.6, 39 * 2 * math.pi / 40, 16 / 31, 8 / 31])


@pytest.mark.parametrize("kind", [SQUARE, ELLIPSE, HEART])
def test_centroid_tracks_position(kind):
    rows = [[kind, 5, 0, p, 16] for p in range(32)] + [[kind, 2, 0, 16, p] for p in range(32)]
    images = render(rows)
    for p in range(32):
        cx, _ = centroid(images[p])
        _, cy = centroid(images[32 + p])
        assert abs(cx - expected_centre(p)) < 1.0, f"pos_x={p}: column {cx:.2f}"
        assert abs(cy - expected_centre(p)) < 1.0, f"pos_y={p}: row {cy:.2f}"


def test_x_is_column_and_y_is_row():
    left_top = render([[SQUARE, 0, 0, 0, 0]])[0]
    right_top = render([[SQUARE, 0, 0, 31, 0]])[0]
    assert left_top[:, :32].sum() == left_top.sum() and left_top[:32].sum() == left_top.sum()
    assert right_top[:, 32:].sum() == right_top.sum() and right_top[:32].sum() == right_top.sum()


def test_largest_shapes_stay_inside_the_frame():
    corners = [(0, 0), (0, 31), (31, 0), (31, 31)]
    rows = [[k, 5, o, x, y] for k in range(3) for o in range(0, 40, 5) for x, y in corners]
    images = render(rows)
    border = images[:, 0].sum() + images[:, -1].sum() + images[:, :, 0].sum() + images[:, :, -1].sum()
    assert border == 0


@pytest.mark.parametrize("kind", [SQUARE, ELLIPSE, HEART])
def test_area_grows_with_scale(kind):
    areas = render([[kind, s, 3, 16, 16] for s in range(6)]).sum((1, 2)).tolist()
    assert all(a < b for a, b in zip(areas, areas[1:])), areas
    assert areas[-1] / areas[0] == pytest.approx(4, rel=0.35)  # scale doubles: area x4


def test_shapes_differ():
    images = render([[k, 5, 0, 16, 16] for k in range(3)])
    for i in range(3):
        for j in range(i + 1, 3):
            assert (images[i] != images[j]).sum() > 0.1 * torch.maximum(images[i], images[j]).sum()


def test_square_repeats_every_quarter_turn_but_heart_does_not():
    square = render([[SQUARE, 4, 0, 13, 20], [SQUARE, 4, 10, 13, 20], [SQUARE, 4, 5, 13, 20]])
    assert (square[0] != square[1]).sum() <= 4
    assert (square[0] != square[2]).sum() > 20  # 45 degrees: a diamond
    heart = render([[HEART, 4, 0, 13, 20], [HEART, 4, 10, 13, 20]])
    assert (heart[0] != heart[1]).sum() > 20


def test_orientation_is_clockwise_on_screen():
    # The heart's tip reaches farther from its centroid than its lobes. At orientation 0 it
    # is upright (tip down); a clockwise quarter turn points the tip left.
    def reach(profile, centre):  # (how far the shape reaches before, after the centre)
        on = profile.nonzero().squeeze(1)
        return centre - on[0], on[-1] - centre

    up, turned = render([[HEART, 5, 0, 16, 16], [HEART, 5, 10, 16, 16]])
    above, below = reach(up.sum(1), centroid(up)[1])
    assert below > above + 2
    left, right = reach(turned.sum(0), centroid(turned)[0])
    assert left > right + 2


def test_same_picture_at_two_resolutions():
    d = make_shapes(300, 64, seed=3)
    small = render_shapes(d.factors, 32).float() / 255
    down = (F.avg_pool2d(d.images.float() / 255, 2) >= 0.5).float()
    mismatch = (small != down).sum() / small.sum()
    assert mismatch < 0.15


def test_chunked_rendering_matches_one_chunk(monkeypatch):
    factors = make_shapes(50, 16, seed=4).factors
    whole = render_shapes(factors, 24)
    monkeypatch.setattr(shapes, "CHUNK_PIXELS", 24 * 24 * 3)  # 3 images per chunk
    assert torch.equal(render_shapes(factors, 24), whole)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="at least 16"):
        make_shapes(10, image_size=15)
    with pytest.raises(ConfigError, match="num_samples"):
        make_shapes(0)
    with pytest.raises(ConfigError, match="factors"):
        render_shapes(torch.tensor([[3, 0, 0, 0, 0]]))
    with pytest.raises(ConfigError, match="factors"):
        render_shapes(torch.zeros(4, 4, dtype=torch.int64))
