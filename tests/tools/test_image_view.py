"""ImageView: crop and zoom re-render from the full-resolution source; annotations; coordinate mapping."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vista_envs.tools.image_view import ImageView, ViewError


@pytest.fixture
def source():
    # 400x400 source: a red square at [100, 100, 200, 200] and a 2-pixel blue dot at (300, 300).
    image = Image.new("RGB", (400, 400), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((100, 100, 199, 199), fill=(255, 0, 0))
    draw.rectangle((300, 300, 301, 301), fill=(0, 0, 255))
    return image


def test_full_view_is_the_downscaled_source(source):
    view = ImageView.full(source, (100, 100))
    assert view.size == (100, 100) and view.scale == pytest.approx(0.25)
    assert view.to_source(50, 50) == pytest.approx((200, 200))


def test_crop_maps_view_pixels_to_the_source_region(source):
    view = ImageView.full(source, (100, 100)).crop((25, 25, 50, 50))
    assert view.region == pytest.approx((100, 100, 200, 200))
    assert np.asarray(view.image)[50, 50].tolist() == [255, 0, 0]


def test_zoom_reveals_detail_lost_at_full_view(source):
    full = ImageView.full(source, (100, 100))

    def bluish(image):
        pixels = np.asarray(image).astype(int)
        return int(((pixels[..., 2] > 200) & (pixels[..., 0] < 120)).sum())

    zoomed = full.zoom(75, 75, 8)
    assert bluish(full.image) <= 1 and bluish(zoomed.image) >= 9


def test_crop_keeps_aspect_ratio_with_padding(source):
    view = ImageView.full(source, (100, 100)).crop((0, 0, 100, 50))  # a 2:1 region
    pixels = np.asarray(view.image)
    assert pixels[0, 50].tolist() == [128, 128, 128] and pixels[99, 50].tolist() == [128, 128, 128]
    x, y = view.to_source(50, 50)
    assert (x, y) == pytest.approx((200, 100))


@pytest.mark.parametrize("box", [(200, 200, 300, 300), (-50, -50, -10, -10), (10, 10, 10, 40)])
def test_crop_outside_or_empty_is_a_view_error(source, box):
    with pytest.raises(ViewError):
        ImageView.full(source, (100, 100)).crop(box)


def test_zoom_arguments_are_checked(source):
    view = ImageView.full(source, (100, 100))
    with pytest.raises(ViewError, match="factor"):
        view.zoom(50, 50, 100)
    with pytest.raises(ViewError, match="outside"):
        view.zoom(500, 50, 2)


def test_annotations_draw_on_a_copy(source):
    view = ImageView.full(source, (100, 100))
    marked = view.annotated(boxes=[((10, 10, 40, 40), "green", "A")], points=[(70, 20, "blue", "")], grid_step=25)
    assert not np.array_equal(np.asarray(view.image), np.asarray(marked.image))
    assert marked.region == view.region
    with pytest.raises(ViewError, match="unknown colour"):
        view.annotated(boxes=[((10, 10, 40, 40), "octarine", "")])
