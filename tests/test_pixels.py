"""The observation conversion: the same pixels as ``np.asarray``, read-only, for every image shape."""

import io

import numpy as np
import pytest
from PIL import Image

from vista_envs.pixels import image_array


@pytest.mark.parametrize("size", [(224, 224), (65, 97), (1, 1), (3, 1000), (1000, 3), (0, 5), (5, 0)])
def test_rgb_pixels_equal_numpy_conversion(size):
    width, height = size
    pixels = np.random.default_rng(width * height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    converted = image_array(image)
    assert converted.shape == (height, width, 3) and converted.dtype == np.uint8
    np.testing.assert_array_equal(converted, np.asarray(image))
    if width * height:
        assert not converted.flags.writeable  # as np.asarray's: an observation cannot be written through


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_other_modes_convert_as_numpy_does(mode):
    image = Image.new(mode, (7, 5), 200)
    np.testing.assert_array_equal(image_array(image), np.asarray(image))


def test_lazily_loaded_image_is_decoded_first():
    """An image opened from a file holds no pixels until loaded: the conversion loads it."""
    drawn = Image.new("RGB", (8, 8), (255, 255, 255))
    drawn.putpixel((3, 2), (10, 20, 30))
    stream = io.BytesIO()
    drawn.save(stream, format="PNG")
    opened = Image.open(io.BytesIO(stream.getvalue()))
    assert tuple(image_array(opened)[2, 3]) == (10, 20, 30)


def test_falls_back_to_numpy_without_the_private_encoder_lookup(monkeypatch):
    import vista_envs.pixels as pixels

    monkeypatch.setattr(pixels, "_get_encoder", None)
    image = Image.new("RGB", (6, 4), (1, 2, 3))
    np.testing.assert_array_equal(pixels.image_array(image), np.asarray(image))
