"""VistaViews-v0: the Gymnasium contract, oracle, bad input, splits, determinism, and the exactness of visibility."""

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vista_envs  # noqa: F401  (registers the ids)

pytest.importorskip("pybullet")

from vista_envs.envs.vista_views import VistaViewsEnv
from vista_envs.views.questions import FAMILIES, VIEW_INDEPENDENT_FAMILIES

SIZE = 64  # the smallest views: these tests check logic, not looks


def make(**kwargs) -> gym.Env:
    kwargs.setdefault("image_size", SIZE)
    return gym.make("VistaViews-v0", **kwargs).unwrapped


@pytest.fixture(scope="module")
def env():
    environment = make()
    yield environment
    environment.close()


# ----------------------------------------------------------------- contract


def test_check_env_passes_without_warnings():
    environment = make(render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(environment, skip_render_check=False)
    environment.close()


@pytest.mark.parametrize(
    ("n_views", "shape"),
    [(2, (SIZE, 2 * SIZE, 3)), ((2, 3), (2 * SIZE, 2 * SIZE, 3)), ((2, 4), (2 * SIZE, 2 * SIZE, 3))],
)
def test_the_mosaic_has_a_fixed_shape_and_info_lists_each_view_with_its_placeholder(n_views, shape):
    environment = make(n_views=n_views)
    for seed in range(4):
        obs, info = environment.reset(seed=seed)
        assert environment.observation_space.contains(obs) and obs["image"].shape == shape
        views = info["images"]
        assert len(views) == info["n_views"] and all(v.shape == (SIZE, SIZE, 3) for v in views)
        user = [m for m in info["messages"] if m["role"] == "user"]
        assert len(user) == 1 and sum(part["type"] == "image" for part in user[0]["content"]) == len(views)
        assert user[0]["content"][-1]["text"] == obs["text"]
        # The first view is the top-left tile of the mosaic.
        assert np.array_equal(obs["image"][:SIZE, :SIZE], views[0])
    environment.close()


def test_the_prompt_is_complete_and_nothing_reveals_the_answer_or_a_seed_before_the_end(env):
    obs, info = env.reset(seed=3, options={"family": "occluded_count", "task_seed": 123456789, "view_seed": 987654321})
    assert "Question:" in obs["text"] and "<answer>" in obs["text"] and "robot's frame" in obs["text"]
    assert not {"answer", "is_success", "task_seed", "view_seed", "scene", "layout"} & set(info)
    assert "123456789" not in repr(info) + obs["text"] and "987654321" not in repr(info) + obs["text"]
    assert info["messages"][0]["role"] == "system" and "<answer>" in info["messages"][0]["content"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_oracle_solves_every_kind_at_every_difficulty_and_earns_the_full_reward(env, family):
    for difficulty in (1, 3, 5):
        for seed in range(3):
            env.reset(seed=seed, options={"family": family, "difficulty": difficulty, "split": "test"})
            _, reward, terminated, truncated, info = env.step(env.oracle())
            assert terminated and not truncated and info["is_success"], (family, difficulty, seed, info["answer"])
            assert reward == pytest.approx(1.4) and info["reward_terms"]["correctness"] == 1.0
            assert info["family"] == family and info["difficulty"] == difficulty and info["split"] == "test"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_oracle_solves_at_least_99_percent_of_100_test_episodes_per_kind(family):
    environment = make()
    solved = 0
    for seed in range(100):
        environment.reset(seed=seed, options={"family": family, "split": "test"})
        solved += environment.step(environment.oracle())[4]["is_success"]
    environment.close()
    assert solved >= 99


def test_a_wrong_answer_scores_no_correctness_but_keeps_format_and_reasoning(env):
    env.reset(seed=0, options={"family": "same_object"})
    wrong = "no" if env.question.spec.answer == "yes" else "yes"
    _, reward, _, _, info = env.step(
        f"<think>I compare where the two ringed objects stand.</think><answer>{wrong}</answer>"
    )
    assert not info["is_success"] and info["reward_terms"]["correctness"] == 0.0
    assert info["reward_terms"]["format"] == 1.0 and reward == pytest.approx(0.4)


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_vector_envs_in_the_view_tool_mode_keep_going_after_tool_turns(vector_cls):
    envs = vector_cls([lambda: gym.make("VistaViews-v0", image_size=SIZE, n_views=2, view_tool=True) for _ in range(2)])
    try:
        envs.reset(seed=1)
        call = '<tool_call>{"name": "view", "arguments": {"index": 2}}</tool_call>'
        obs, rewards, terminated, truncated, _ = envs.step((call, "no call, no answer"))
        assert not terminated.any() and not truncated.any() and obs["image"].shape == (2, SIZE, 2 * SIZE, 3)
        assert rewards[0] == pytest.approx(-0.05) and rewards[1] == pytest.approx(-0.2)
        assert "View 2 follows." in obs["text"][0] and "neither a tool call nor an answer" in obs["text"][1]
    finally:
        envs.close()


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_vector_envs_reset_and_step(vector_cls):
    envs = vector_cls([lambda: gym.make("VistaViews-v0", image_size=SIZE, n_views=(2, 4)) for _ in range(2)])
    try:
        obs, infos = envs.reset(seed=5)
        assert obs["image"].shape == (2, 2 * SIZE, 2 * SIZE, 3) and len(obs["text"]) == 2
        obs, rewards, terminated, _, infos = envs.step(("<think>a b c</think><answer>3</answer>", 42))
        assert rewards.shape == (2,) and terminated.all()
        assert "must be a str" in infos["error"][1]
    finally:
        envs.close()


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (None, "must be a str"),
        (12345, "must be a str"),
        (["<answer>1</answer>"], "must be a str"),
        ("x" * 100_000, "over the limit"),
        ("<answer>1", "malformed"),
        ("<think>a</think><answer>1</answer><answer>2</answer>", "malformed"),
        ("\ud800 not utf-8 \x00", "malformed"),
    ],
)
def test_bad_actions_are_scored_and_reported_never_raised(env, action, message):
    env.reset(seed=1, options={"family": "same_object"})  # a yes/no answer: the numbers above are never right
    obs, reward, terminated, _, info = env.step(action)
    assert terminated and message in info["error"] and message in obs["text"]
    assert reward <= 0.2 and env.observation_space.contains(obs)
    assert info["messages"][-1]["role"] == "assistant"


def test_api_misuse_raises_clearly():
    environment = make()
    with pytest.raises(gym.error.ResetNeeded, match="VistaViews-v0: call reset"):
        environment.step("<answer>1</answer>")
    with pytest.raises(gym.error.ResetNeeded):
        environment.oracle()
    environment.reset(seed=0)
    environment.step("<answer>1</answer>")
    with pytest.raises(gym.error.ResetNeeded, match="has ended"):
        environment.step("<answer>1</answer>")
    for options, message in [
        ({"family": "nope"}, "family 'nope'"),
        ({"colour": "red"}, "unknown reset options"),
        ({"split": "validation"}, "split must be"),
        ({"difficulty": 6}, "difficulty must be"),
        ({"task_seed": -1}, "task_seed"),
        ({"view_seed": 1.5}, "view_seed"),
    ]:
        with pytest.raises(ValueError, match=message):
            environment.reset(seed=0, options=options)
    environment.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_views": 5}, "n_views"),
        ({"n_views": (3, 2)}, "n_views"),
        ({"n_views": True}, "n_views"),
        ({"difficulty": 0}, "difficulty"),
        ({"image_size": 32}, "image_size"),
        ({"families": ["nope"]}, "unknown question family"),
        ({"families": []}, "at least one"),
        ({"split": "dev"}, "split"),
        ({"correctness_weight": -1.0}, "correctness_weight must be >= 0, got -1.0"),
        ({"render_mode": "ansi"}, "render_mode"),
        ({"randomization": "extreme"}, "level"),
    ],
)
def test_bad_constructor_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VistaViewsEnv(**kwargs)


# ------------------------------------------------------- determinism, splits


def _digest(environment, seed, options):
    obs, _info = environment.reset(seed=seed, options=options)
    return obs["text"], obs["image"].tobytes(), environment.question.spec.answer


def test_the_same_seed_gives_the_same_episode_and_another_seed_another(env):
    first = _digest(env, 11, {"difficulty": 4})
    _digest(env, 12, {"difficulty": 2})  # a different episode in between must not leak into the next
    assert _digest(env, 11, {"difficulty": 4}) == first
    assert _digest(env, 13, {"difficulty": 4}) != first
    other = make()
    assert _digest(other, 11, {"difficulty": 4}) == first
    other.close()


_EPISODE_DIGEST = """
import hashlib, gymnasium as gym, vista_envs
env = gym.make("VistaViews-v0", image_size=64, randomization="medium").unwrapped
obs, info = env.reset(seed=21, options={"family": "camera_relation", "difficulty": 3})
print(hashlib.sha256(obs["image"].tobytes() + obs["text"].encode()).hexdigest(), env.question.spec.answer)
"""


def test_episodes_are_identical_across_processes():
    runs = [
        subprocess.run([sys.executable, "-c", _EPISODE_DIGEST], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and runs[0].strip()


def test_scenes_belong_to_the_split_asked_for(env):
    for split in ("train", "eval", "test"):
        for seed in range(3):
            env.reset(seed=seed, options={"split": split})
            assert env.layout.split() == split and env.episode_split == split


@pytest.mark.parametrize("family", VIEW_INDEPENDENT_FAMILIES)
def test_view_independent_kinds_ask_mostly_one_question_of_one_scene_from_different_rigs_with_one_answer(env, family):
    answers, most_asked = {}, 0
    for task_seed in range(10):
        asked = []
        for view_seed in range(4):
            env.reset(
                seed=0, options={"family": family, "difficulty": 3, "task_seed": task_seed, "view_seed": view_seed}
            )
            question = (task_seed, env.question.spec.question)
            asked.append(question)
            answers.setdefault(question, set()).add(env.question.spec.answer)
            cameras = env.cameras
        most_asked += max(asked.count(question) for question in asked)
    assert all(len(found) == 1 for found in answers.values())  # a question about a scene has one answer
    assert most_asked >= 0.85 * 40, most_asked  # measured: 96% on the test split
    env.reset(seed=0, options={"family": family, "difficulty": 3, "task_seed": 9, "view_seed": 99})
    assert env.cameras != cameras


def test_difficulty_adds_objects_and_screens(env):
    sizes = {}
    for difficulty in (1, 5):
        env.reset(seed=0, options={"difficulty": difficulty})
        sizes[difficulty] = (len(env.layout.objects), len(env.layout.screens))
    assert sizes[1] == (4, 2) and sizes[5] == (8, 3)


def test_render_shows_the_mosaic_with_the_question_and_after_the_end_the_ground_truth():
    environment = make(render_mode="rgb_array")
    environment.reset(seed=2)
    before = environment.render()
    assert before.shape[0] > 2 * SIZE and before.shape[1] == 2 * SIZE
    environment.step(environment.oracle())
    assert environment.render().shape == before.shape and not np.array_equal(environment.render(), before)
    environment.close()


def test_the_gallery_writes_one_sheet_per_question_family(tmp_path, capsys):
    from PIL import Image

    from vista_envs.cli import main

    assert main(["gallery", "--views", "--seeds", "1", "--size", "64", "--out", str(tmp_path)]) == 0
    paths = capsys.readouterr().out.split()
    assert sorted(paths) == sorted(str(tmp_path / f"VistaViews-{family}.png") for family in FAMILIES)
    assert Image.open(paths[0]).size[1] > 5 * 2 * SIZE  # five difficulties of captioned 2x2 mosaics


def _mask(env, view):
    """PyBullet's own segmentation mask of one of the episode's views (body id per pixel)."""
    camera, client, size = env.cameras[view], env.sim.client, env.image_size
    matrices = (
        client.computeViewMatrix(camera.eye, camera.target, camera.up),
        client.computeProjectionMatrixFOV(camera.fov, 1.0, camera.near, camera.far),
    )
    return np.asarray(client.getCameraImage(size, size, *matrices)[4]).reshape(size, size)


def test_counted_objects_match_the_scene_and_one_is_occluded_in_view_1_by_the_renderers_own_mask():
    environment = make(image_size=160)
    for seed in range(8):
        environment.reset(seed=seed, options={"family": "occluded_count", "split": "test"})
        question, layout = environment.question, environment.layout
        colour = next(
            c
            for c in ("red", "green", "blue", "yellow", "purple", "orange", "cyan", "brown", "pink")
            if f" {c} objects" in question.spec.question
        )
        assert question.spec.answer == sum(o.spec.color == colour for o in layout.objects) == len(question.subjects)
        masks = [_mask(environment, v) for v in range(len(environment.cameras))]
        pixels = {i: [int((m == environment.bodies[i]).sum()) for m in masks] for i in question.subjects}
        assert all(max(p) >= 40 for p in pixels.values())  # every counted object is plainly drawn in some view
        assert any(p[0] <= 0.1 * max(p) for p in pixels.values())  # and one of them (almost) not in View 1
    environment.close()


@pytest.mark.parametrize("family", ["correspondence", "same_object"])
def test_rings_and_labels_sit_on_the_objects_they_mark(family):
    environment = make(image_size=160)
    for seed in range(8):
        environment.reset(seed=seed, options={"family": family, "split": "test"})
        question = environment.question
        rings = [(view, mark) for view, marks in question.marks.items() for mark in marks if mark.kind == "ring"]
        assert len(rings) == (1 if family == "correspondence" else 2)
        for (view, mark), subject in zip(rings, question.subjects):
            x, y = (round(c * 160) for c in mark.centre)
            window = _mask(environment, view)[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3]
            assert (window == environment.bodies[subject]).any()
        if family == "correspondence":
            labels = next(marks for marks in question.marks.values() if marks[0].kind == "label")
            assert str(question.spec.answer) in {mark.text for mark in labels}
        else:
            first, second = question.subjects
            assert (question.spec.answer == "yes") == (first == second)
    environment.close()


# --------------------------------------------------------------- view tool


def test_view_tool_mode_passes_check_env():
    environment = make(view_tool=True, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(environment, skip_render_check=False)
    environment.close()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_view_tool_oracle_asks_only_for_the_views_it_needs_then_answers(family):
    environment = make(view_tool=True, n_views=4)
    for seed in range(6):
        obs, info = environment.reset(seed=seed, options={"family": family, "split": "test"})
        assert (
            info["views_shown"] == [1] and len(info["images"]) == 1 and info["tools"][0]["function"]["name"] == "view"
        )
        assert (obs["image"][SIZE:, SIZE:] == 40).all()  # View 4's tile is still dark
        total, turns = 0.0, 0
        while True:
            obs, reward, terminated, truncated, info = environment.step(environment.oracle())
            total, turns = total + reward, turns + 1
            if terminated or truncated:
                break
        needed = environment.question.needed_views
        assert info["is_success"] and not truncated and turns == (2 if len(needed) > 1 else 1)
        assert sorted(info["views_shown"]) == [k + 1 for k in needed]
        assert total == pytest.approx(1.4 - 0.05 * (len(needed) - 1))
        assert len(info["images"]) == len(needed)
        placeholders = sum(
            p["type"] == "image"
            for m in info["messages"]
            if m["role"] == "user"
            for p in m["content"]
            if isinstance(m["content"], list)
        )
        assert placeholders == len(info["images"])
        tool_messages = [m for m in info["messages"] if m["role"] == "tool"]
        call_ids = [c["id"] for m in info["messages"] if m.get("tool_calls") for c in m["tool_calls"]]
        assert [m["tool_call_id"] for m in tool_messages] == call_ids
    environment.close()


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (None, "must be a str"),
        (["view"], "must be a str"),
        ("y" * 20_000, "over the limit"),
        ("I would like to see more.", "neither a tool call nor an answer"),
        ('<tool_call>{"name": "view", "arguments": {"index": 2}', "never closed"),
        ("<tool_call>not json</tool_call>", "not valid JSON"),
        ('<tool_call>{"name": "zoom", "arguments": {"index": 2}}</tool_call>', "unknown tool"),
        ('<tool_call>{"name": "view", "arguments": {"index": 0}}</tool_call>', "no View 0"),
        ('<tool_call>{"name": "view", "arguments": {"index": 99}}</tool_call>', "no View 99"),
        ('<tool_call>{"name": "view", "arguments": {"index": -1}}</tool_call>', "no View -1"),
        ('<tool_call>{"name": "view", "arguments": {"index": ' + "9" * 3000 + "}}</tool_call>", "Error"),
        ('<tool_call>{"name": "view", "arguments": {"index": "two"}}</tool_call>', "must be an integer"),
        ('<tool_call>{"name": "view", "arguments": {"index": true}}</tool_call>', "must be an integer"),
        ('<tool_call>{"name": "view", "arguments": {"index": 2, "zoom": 3}}</tool_call>', "unknown arguments"),
        ('<tool_call>{"name": "view", "arguments": {"index": 2}}</tool_call>' * 6, "only the first 4"),
    ],
)
def test_bad_view_tool_turns_cost_a_penalty_and_the_episode_goes_on(action, message):
    environment = make(view_tool=True, n_views=3)
    environment.reset(seed=4)
    obs, reward, terminated, truncated, info = environment.step(action)
    assert not terminated and not truncated and message in info["error"] and message in obs["text"]
    assert info["reward_terms"]["invalid"] <= -1.0 and reward < 0
    assert environment.observation_space.contains(obs)
    _, _, terminated, _, info = environment.step(environment.oracle())  # the episode goes on normally
    while not terminated:
        _, _, terminated, _, info = environment.step(environment.oracle())
    assert info["is_success"]
    environment.close()


def test_asking_again_for_a_shown_view_costs_nothing_and_the_turn_limit_truncates():
    environment = make(view_tool=True, n_views=2, max_turns=3)
    environment.reset(seed=0)
    _, reward, _, _, info = environment.step('<tool_call>{"name": "view", "arguments": {"index": 1}}</tool_call>')
    assert reward == 0.0 and "already shown" in info["messages"][-1]["content"] and "error" not in info
    _, reward, _, _, info = environment.step('<tool_call>{"name": "view", "arguments": {"index": 2}}</tool_call>')
    assert reward == pytest.approx(-0.05) and info["views_shown"] == [1, 2]
    _, _, terminated, truncated, info = environment.step("still thinking")
    assert truncated and not terminated and info["is_success"] is False and "answer" in info
    with pytest.raises(gym.error.ResetNeeded):
        environment.step("<answer>1</answer>")
    environment.close()


@pytest.mark.parametrize("level", ["low", "high"])
def test_domain_randomisation_keeps_every_family_solvable_and_changes_the_looks(level):
    plain, randomised = make(), make(randomization=level)
    for seed, family in enumerate(sorted(FAMILIES)):
        options = {"family": family, "difficulty": 3}
        obs, _ = randomised.reset(seed=seed, options=options)
        assert randomised.observation_space.contains(obs)
        assert randomised.step(randomised.oracle())[4]["is_success"]
        assert not np.array_equal(obs["image"], plain.reset(seed=seed, options=options)[0]["image"])
    extra = {"low": 1, "high": 3}[level]
    randomised.reset(seed=0, options={"difficulty": 2})
    assert len(randomised.layout.objects) == 5 + extra
    plain.close()
    randomised.close()


def test_oracle_answers_from_different_rigs_of_one_scene_are_paid_full_consistency(env):
    from vista_envs.views.consistency import consistency_rewards

    responses, answers = [], set()
    for view_seed in range(3):
        env.reset(seed=0, options={"family": "relation", "difficulty": 2, "task_seed": 5, "view_seed": view_seed})
        responses.append(env.oracle())
        answers.add(env.question.spec.answer)
    assert len(answers) == 1 and consistency_rewards(responses, "text") == [1.0, 1.0, 1.0]
    wrong = responses[:2] + [
        "<think>a guess</think><answer>" + ("right" if answers == {"left"} else "left") + "</answer>"
    ]
    assert consistency_rewards(wrong, "text") == [0.5, 0.5, 0.0]
