import math

import pytest

from vista_agents.config import ModelConfig


def test_a_constant_schedule_keeps_the_learning_rate():
    config = ModelConfig(learning_rate=0.1)
    assert [config.learning_rate_at(step, 10) for step in (0, 5, 9)] == [0.1, 0.1, 0.1]


def test_linear_and_cosine_schedules_fall_from_the_peak_towards_zero():
    linear = ModelConfig(learning_rate=0.1, lr_scheduler="linear")
    assert [linear.learning_rate_at(step, 4) for step in range(4)] == pytest.approx([0.1, 0.075, 0.05, 0.025])
    cosine = ModelConfig(learning_rate=0.1, lr_scheduler="cosine")
    assert cosine.learning_rate_at(0, 4) == pytest.approx(0.1)
    assert cosine.learning_rate_at(2, 4) == pytest.approx(0.05)  # half-way: half the peak
    assert cosine.learning_rate_at(3, 4) == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.75)))


def test_warmup_rises_to_the_peak_before_the_schedule_starts():
    config = ModelConfig(learning_rate=0.1, lr_scheduler="linear", warmup_steps=3)
    rates = [config.learning_rate_at(step, 7) for step in range(7)]
    assert rates[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert rates[3:] == pytest.approx([0.1, 0.075, 0.05, 0.025])


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"lr_scheduler": "step"}, "lr_scheduler must be one of"), ({"warmup_steps": -1}, "warmup_steps must be >= 0")],
)
def test_a_bad_schedule_is_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**settings)
