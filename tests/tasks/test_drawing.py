"""The drawing helpers every family draws with (``vista_envs/tasks/drawing.py``): text stamped where it is asked,
seeded noise of the asked spread."""

import random

import numpy as np
from PIL import Image, ImageDraw

from vista_envs.tasks.drawing import add_noise, stamp_text, text_extent


def test_stamp_text_draws_the_ink_box_at_its_anchor():
    image = Image.new("RGB", (100, 40), (255, 255, 255))
    box = stamp_text(ImageDraw.Draw(image), (50, 20), "K7Q", 12, (0, 0, 0), anchor="mm")
    assert (box[2] - box[0], box[3] - box[1]) == text_extent("K7Q", 12)
    assert abs((box[0] + box[2]) / 2 - 50) <= 0.5 and abs((box[1] + box[3]) / 2 - 20) <= 0.5
    ink = np.argwhere(np.asarray(image.convert("L")) < 128)
    assert (
        ink[:, 1].min() >= box[0]
        and ink[:, 1].max() < box[2]
        and ink[:, 0].min() >= box[1]
        and ink[:, 0].max() < box[3]
    )


def test_noise_is_seeded_and_has_the_requested_spread():
    image = Image.new("RGB", (64, 48), (128, 128, 128))
    first = add_noise(image, 10.0, random.Random(1))
    assert first.tobytes() == add_noise(image, 10.0, random.Random(1)).tobytes()
    assert first.size == image.size and first.mode == "RGB"
    assert 8 < np.asarray(first, dtype=float).std() < 12
    assert add_noise(image, 0.0, random.Random(1)) is image
