"""is_finite_number: the one test of "a finite real number" for JSON a model or a user wrote."""

import math

import pytest

from vista_envs.finite import is_finite_number


@pytest.mark.parametrize("value", [0, -3, 2.5, 1e308, 10**300])
def test_finite_ints_and_floats_pass(value):
    assert is_finite_number(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400, True, False, "1", None, [1], 1j])
def test_everything_else_fails_without_raising(value):
    assert not is_finite_number(value)  # 10**400: an int no float can hold (math.isfinite raises on it)
