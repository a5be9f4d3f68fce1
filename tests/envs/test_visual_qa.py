"""VisualQA-v0: the Gymnasium contract, rewards, bad input, no leakage, determinism, splits."""

import json
import pickle
import random
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vista_envs  # noqa: F401  (registers the ids)
from vista_envs.answers import format_answer
from vista_envs.tasks import family_names

import repo_paths

FAMILIES = family_names()
ORACLE_SEEDS = 200  # per family and difficulty


def make(**kwargs):
    return gym.make("VisualQA-v0", **kwargs)


def test_make_without_prior_import_in_a_fresh_interpreter():
    code = (
        "import gymnasium as gym; env = gym.make('vista_envs:VisualQA-v0'); print(env.reset(seed=0)[0]['image'].shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(224, 224, 3)"


def test_check_env_passes_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(make().unwrapped, skip_render_check=False)


def test_importing_the_envs_never_imports_torch():
    code = (
        "import sys, gymnasium as gym, vista_envs; gym.make('VisualQA-v0').reset(seed=0); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_vector_envs_step_oracle_and_random_responses(vector_cls):
    envs = vector_cls([lambda: make(image_size=64) for _ in range(2)])
    try:
        obs, infos = envs.reset(seed=3)
        assert obs["image"].shape == (2, 64, 64, 3)
        single = make(image_size=64).unwrapped
        assert tuple(obs["text"]) == tuple(single.reset(seed=seed)[0]["text"] for seed in (3, 4))
        actions = ("<think>I looked at the picture.</think><answer>0</answer>", "无效 ✗")
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        assert terminated.all() and not truncated.any()
        assert rewards.shape == (2,)
        assert "reward_terms" in infos and "answer" in infos
    finally:
        envs.close()


@pytest.mark.parametrize("family", FAMILIES)
def test_oracle_earns_full_reward_on_every_difficulty(family):
    env = make(families=[family]).unwrapped
    for difficulty in range(1, 6):
        for seed in range(ORACLE_SEEDS):
            env.reset(seed=seed, options={"difficulty": difficulty})
            _, reward, _, _, info = env.step(env.oracle())
            assert info["is_success"] and reward == pytest.approx(1.4), (family, difficulty, seed, info)
            assert info["reward_terms"] == {"correctness": 1.0, "format": 1.0, "reasoning": 1.0, "length": 0.0}


@pytest.mark.parametrize("family", FAMILIES)
def test_oracle_solves_held_out_splits(family):
    env = make(families=[family]).unwrapped
    for split in ("eval", "test"):
        for seed in range(20):
            env.reset(seed=seed, options={"split": split, "difficulty": 1 + seed % 5})
            assert env.step(env.oracle())[4]["is_success"]


def _type_aware_guess(rng: random.Random, answer_type: str, question: str, size: int) -> str:
    """A guesser that knows only the answer type: the chance baseline."""
    if answer_type == "yes_no":
        return rng.choice(["yes", "no"])
    if answer_type == "choice":
        letters = [c for c in "ABCDEFGHIJ" if f"{c}" in question]
        return rng.choice(letters or ["A"])
    if answer_type == "box":
        x0, y0 = rng.randrange(size // 2), rng.randrange(size // 2)
        return f"[{x0}, {y0}, {x0 + size // 4}, {y0 + size // 4}]"
    if answer_type == "time":
        return f"{rng.randint(1, 12)}:{rng.randrange(60):02d}"
    if answer_type == "sequence":
        return ", ".join(rng.sample(list("ABCDE"), 3))
    if answer_type == "text":
        return rng.choice(["red", "blue", "green", "circle", "square", "yes", "apple"])
    return str(rng.randint(0, 20))


def test_a_type_aware_random_guesser_scores_near_chance():
    env = make().unwrapped
    rng = random.Random(0)
    results: dict[str, list[bool]] = {}
    for seed in range(600):
        obs, info = env.reset(seed=seed)
        guess = _type_aware_guess(rng, info["answer_type"], obs["text"], 224)
        success = env.step(f"<think>I will guess an answer.</think><answer>{guess}</answer>")[4]["is_success"]
        results.setdefault(info["answer_type"], []).append(success)
    overall = np.mean([s for successes in results.values() for s in successes])
    assert overall < 0.3, results
    if len(results.get("yes_no", [])) >= 30:
        assert 0.25 < np.mean(results["yes_no"]) < 0.75


class TestBadInput:
    """A model's output never raises; it is scored with the format penalty and explained in info['error']."""

    @pytest.mark.parametrize(
        "action",
        [
            "",
            "x" * 1_000_000,
            bytes(range(256)).decode("latin-1"),
            "<think>unclosed",
            "<answer>1</answer><answer>2</answer>",
            "<think>" * 10_000,
            "\ud800\udfff",
            "答案是三 <answer>三</answer>",
        ],
        ids=["empty", "1MB", "binary", "unclosed", "two-answers", "tag-flood", "surrogates", "unicode"],
    )
    def test_any_string_gets_a_reward_and_an_error(self, action):
        env = make().unwrapped
        env.reset(seed=0)
        _, reward, terminated, _, info = env.step(action)
        assert terminated and np.isfinite(reward)
        assert info["reward_terms"]["format"] == 0.0
        assert info["error"]

    @pytest.mark.parametrize("action", [None, 3, b"<answer>3</answer>", ["<answer>3</answer>"], {"text": "3"}])
    def test_non_string_actions_get_a_clear_error(self, action):
        env = make().unwrapped
        env.reset(seed=0)
        _, reward, _, _, info = env.step(action)
        assert "must be a str" in info["error"]
        assert reward == pytest.approx(-0.1)

    def test_step_before_reset_raises_a_clear_error(self):
        with pytest.raises(gym.error.ResetNeeded, match="reset"):
            make().unwrapped.step("<answer>1</answer>")

    def test_step_after_the_answer_raises_a_clear_error(self):
        env = make().unwrapped
        env.reset(seed=0)
        env.step("x")
        with pytest.raises(gym.error.ResetNeeded, match="episode has ended"):
            env.step("x")

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"difficulty": 0},
            {"difficulty": (4, 2)},
            {"split": "validation"},
            {"families": ["nope"]},
            {"image_size": 8},
            {"response_format": "xml"},
        ],
    )
    def test_invalid_constructor_kwargs_raise(self, kwargs):
        with pytest.raises(ValueError):
            make(**kwargs)

    @pytest.mark.parametrize(
        "options", [{"difficulty": 9}, {"family": "nope"}, {"split": "dev"}, {"colour": "red"}, {"task_seed": -1}]
    )
    def test_invalid_reset_options_raise(self, options):
        with pytest.raises(ValueError):
            make().unwrapped.reset(seed=0, options=options)


def test_ground_truth_never_appears_before_the_episode_ends():
    env = make().unwrapped
    for seed in range(300):
        obs, info = env.reset(seed=seed)
        answer = format_answer(env.task.spec)
        assert not {"answer", "is_success", "scene", "task_seed", "split"} & set(info)
        # The answer may legitimately appear in the question only as a listed option (choice tasks).
        if env.task.answer_type not in ("choice",):
            visible = json.dumps({key: value for key, value in info.items() if key != "images"}) + "\n" + obs["text"]
            assert f"<answer>{answer}" not in visible
        _, _, _, _, end = env.step("<think>no idea at all</think><answer>?</answer>")
        assert end["answer"] == answer


def test_same_seed_same_task_and_reward_in_process():
    first, second = make().unwrapped, make().unwrapped
    for seed in range(30):
        obs_a, info_a = first.reset(seed=seed)
        obs_b, info_b = second.reset(seed=seed)
        assert info_a.pop("images")[0].tobytes() == info_b.pop("images")[0].tobytes()
        assert info_a == info_b and obs_a["text"] == obs_b["text"]
        assert np.array_equal(obs_a["image"], obs_b["image"])
        assert first.step(first.oracle())[1] == second.step(second.oracle())[1]


def _fingerprint(seeds):
    env = make().unwrapped
    rows = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        reward = env.step("<think>a guess of mine</think><answer>3</answer>")[1]
        rows.append([obs["text"], pickle.dumps(obs["image"].tobytes()).hex()[-64:], reward])
    return rows


def test_same_seed_same_task_across_processes():
    code = "import json; from test_visual_qa import _fingerprint; print(json.dumps(_fingerprint(range(20))))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": "", "PYTHONPATH": repo_paths.subprocess_env(__file__)["PYTHONPATH"]},
    )
    assert json.loads(out.stdout) == _fingerprint(range(20))


def test_splits_never_share_a_task():
    env = make().unwrapped
    seen: dict[str, set[str]] = {"train": set(), "eval": set(), "test": set()}
    for split in seen:
        for seed in range(150):
            env.reset(seed=seed, options={"split": split})
            assert env.step("<answer>?</answer>")[4]["split"] == split
            seen[split].add(env.task.spec.content_key())
    assert not seen["train"] & seen["eval"]
    assert not seen["train"] & seen["test"]
    assert not seen["eval"] & seen["test"]


def test_reset_options_select_family_difficulty_and_task():
    env = make().unwrapped
    family = FAMILIES[0]
    _, info = env.reset(seed=1, options={"family": family, "difficulty": 4, "task_seed": 77})
    assert (info["family"], info["difficulty"]) == (family, 4)
    assert env.step("<answer>?</answer>")[4]["task_seed"] == 77


def test_a_numpy_int_difficulty_is_taken_as_an_int_and_a_fractional_one_refused():
    env = make().unwrapped
    _, info = env.reset(seed=1, options={"difficulty": np.int64(2)})  # as vector envs' infos give it back
    assert info["difficulty"] == 2 and type(info["difficulty"]) is int
    with pytest.raises(ValueError, match="difficulty must be an int"):
        env.reset(seed=1, options={"difficulty": 2.5})


def test_image_size_sets_the_observation_shape():
    env = make(image_size=(96, 128)).unwrapped
    assert env.observation_space["image"].shape == (96, 128, 3)
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        assert obs["image"].shape == (96, 128, 3) and env.observation_space.contains(obs)


def test_render_shows_the_task_at_a_fixed_frame_size():
    env = make(render_mode="rgb_array").unwrapped
    env.reset(seed=0)
    before = env.render()
    env.step("y" * 5000)
    after = env.render()
    assert before.shape == after.shape and before.shape[1] == 224 and before.shape[0] > 224
    assert not np.array_equal(before, after)  # the response and ground truth are written once answered


def test_reward_weights_and_response_format_are_constructor_kwargs():
    env = make(
        correctness_weight=2.0, format_weight=0.0, reasoning_weight=0.0, length_weight=0.0, response_format="boxed"
    ).unwrapped
    env.reset(seed=0)
    oracle = env.oracle()
    assert "\\boxed{" in oracle
    assert env.step(oracle)[1] == pytest.approx(2.0)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("height, width", [(64, 64), (77, 100), (240, 320), (448, 448)])
def test_every_family_renders_at_small_odd_and_large_sizes(family, height, width):
    env = make(families=[family], image_size=(height, width)).unwrapped
    for seed in range(10):
        obs, _ = env.reset(seed=seed, options={"difficulty": 1 + seed % 5})
        assert obs["image"].shape == (height, width, 3)
        assert env.step(env.oracle())[4]["is_success"]


def test_default_families_are_those_that_need_no_tools():
    from vista_envs.tasks import get_family

    env = make().unwrapped
    assert set(env.sampler.families) == {name for name in FAMILIES if not get_family(name).tools_help}
    assert len(env.sampler.families) >= 12


def test_record_video_and_episode_statistics_wrappers_work(tmp_path):
    pytest.importorskip("moviepy")
    env = gym.wrappers.RecordEpisodeStatistics(
        gym.wrappers.RecordVideo(
            make(render_mode="rgb_array"), str(tmp_path / "videos"), episode_trigger=lambda _: True, disable_logger=True
        )
    )
    for seed in range(2):
        env.reset(seed=seed)
        *_, info = env.step(env.unwrapped.oracle())
        assert info["episode"]["r"] == pytest.approx(1.4)
    env.close()
    assert len(list((tmp_path / "videos").glob("*.mp4"))) == 2
