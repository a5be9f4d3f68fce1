"""The contract every registered task family keeps: determinism (here and in a fresh process) and splits.

Family-specific checks (answers recomputed from the scene, difficulty ladders, image contents) live in
``families/test_<family>.py``; these checks run over every family, so a new family gets them for free.
"""

import hashlib
import subprocess
import sys

import pytest

from vista_envs.tasks import family_names, generate_task, get_family, split_of

import repo_paths

FAMILIES = family_names()
DIFFICULTIES = (1, 2, 3, 4, 5)


def fingerprints(seeds: range, difficulties: tuple[int, ...]) -> list[str]:
    """Hashes of the spec and image bytes of every family's tasks for ``seeds`` x ``difficulties``, train and eval."""
    return [
        hashlib.sha256(repr(task.spec).encode() + task.image.tobytes()).hexdigest()
        for family in FAMILIES
        for difficulty in difficulties
        for split in ("train", "eval")
        for task in (generate_task(get_family(family), seed, difficulty, split=split) for seed in seeds)
    ]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_same_seed_gives_identical_spec_and_image_bytes(family, difficulty):
    generator = get_family(family)
    for seed in range(10):
        first, again = generate_task(generator, seed, difficulty), generate_task(generator, seed, difficulty)
        assert first.spec == again.spec
        assert first.image.tobytes() == again.image.tobytes()
    assert generate_task(generator, 0, difficulty).spec != generate_task(generator, 1, difficulty).spec


def test_tasks_are_identical_in_a_fresh_process_with_another_hash_seed():
    script = "from test_family_contract import fingerprints; print(fingerprints(range(3), (1, 5)))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=repo_paths.subprocess_env(__file__, PYTHONHASHSEED="12345"),
        cwd=repo_paths.REPO,
    )
    assert result.stdout.strip() == str(fingerprints(range(3), (1, 5)))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("split", ["train", "eval", "test"])
def test_a_task_generated_for_a_split_belongs_to_that_split(family, split):
    generator = get_family(family)
    for seed in range(5):
        task = generate_task(generator, seed, 1 + seed % 5, split=split)
        assert task.split == split and split_of(family, task.spec) == split
        if split != "train":
            assert task.spec != generate_task(generator, seed, 1 + seed % 5, split="train").spec
