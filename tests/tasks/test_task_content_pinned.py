"""The test-split tasks are pinned: the leaderboards' suites name tasks by (family, difficulty, seed), so a
change to what a generator draws silently changes every suite.

Speed-ups must keep these digests. A deliberate change of a family's content updates its digest here
and bumps the ``version`` of every suite in ``vista_envs/bench/suites`` that uses the family, so that
old and new results are never compared. The digests cover the task content (question, answer, scene),
not the pixels, which also depend on the Pillow version.
"""

import hashlib

import pytest

from vista_envs.bench.suites import builtin_suite_names, load_suite
from vista_envs.tasks import family_names, generate_task, get_family

PINNED = {
    "attributes": "bd5b7e523a62ac37",
    "chart": "0d1346a9d0b159f9",
    "chart_arithmetic": "e0415e0d5d22cc07",
    "clock": "75752fa123a45ca4",
    "comparison": "1e00b7cefa3829da",
    "counting": "ba33d9e0ed198692",
    "financial_chart": "6f2b86cdcdad3b4b",
    "flag_lookup": "f34eefe281a324e2",
    "geometry": "83d7421f7d3ec234",
    "grounding": "28d9ce8bd04b3443",
    "maze": "2380b1687ffd60bd",
    "odd_one_out": "d83f448ca5f20882",
    "pixel_measure": "b3759409d2591eca",
    "product_price": "b5b8410af39ec0f4",
    "spatial": "4c808b3bc2156691",
    "temporal_order": "739a6f28983d0b31",
    "text_reading": "03dc7636456b2dda",
    "tiny_text": "ca05007f61ae8932",
}


def content_digest(family: str) -> str:
    """Digest of the content of ``family``'s test tasks for seeds 0-2 at every difficulty, at 224 px."""
    generator, digest = get_family(family), hashlib.sha256()
    for difficulty in range(1, 6):
        for seed in range(3):
            digest.update(generate_task(generator, seed, difficulty, "test", (224, 224)).spec.content_key())
    return digest.hexdigest()[:16]


# The envs whose episodes are task-family tasks: a suite entry of one of them runs the families it names.
TASK_ENVS = ("VisualQA-v0", "VistaTool-v0")


def families_in_suites() -> set[str]:
    """The task families that a built-in suite runs: named in its grid, options or env kwargs, or every
    registered family for an entry that names none."""
    used: set[str] = set()
    for name in builtin_suite_names():
        for entry in load_suite(name).entries:
            if entry.env_id not in TASK_ENVS:
                continue
            named = {
                *entry.grid.get("family", ()),
                *([entry.options["family"]] if "family" in entry.options else []),
                *entry.env_kwargs.get("families", ()),
            }
            used |= named or set(family_names())
    return used


def test_every_family_that_a_suite_runs_is_pinned():
    # A new family needs no pin until a suite runs it (adding a family touches one file); from then on the
    # suite's results depend on its content.
    unpinned = families_in_suites() - set(PINNED)
    assert not unpinned, f"pin {sorted(unpinned)}: PINNED[name] = content_digest(name)"


def test_every_pin_names_a_registered_family():
    assert set(PINNED) <= set(family_names())


@pytest.mark.parametrize("family", sorted(PINNED))
def test_test_split_content_is_unchanged(family):
    assert content_digest(family) == PINNED[family], (
        f"{family}'s test tasks changed: if on purpose, update PINNED and bump the version of the suites that use it"
    )
