"""The domain randomisation benchmark: which arms it trains or reads from an earlier run, the scene each arm trains
and is evaluated in, and whether its section says the target is met."""

import json
from pathlib import Path

import pytest

import repo_paths

STEPS = 8 * 128 * 4


@pytest.fixture(scope="module")
def bench():
    with repo_paths.benchmark_module("bench_domain_randomization") as module:
        yield module


def fake_result(name: str, seed: int = 1, steps: int = STEPS, test: float = 0.5) -> dict:
    row = {
        "global_step": steps,
        "success_rate": 0.9,
        "eval/success_rate": 0.8,
        "time/cpu_s": 60.0,
        "time/wall_s": 120.0,
    }
    return {"name": name, "seed": seed, "rows": [row], "final": {"eval": 0.8, "test": test}}


def write_result(work: Path, result: dict) -> Path:
    path = work / f"{result['name']}-seed{result['seed']}" / "result.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(result))
    return path


def test_a_finished_arm_of_the_same_seed_and_steps_is_read_and_says_where_it_came_from(bench, tmp_path):
    path = write_result(tmp_path, fake_result("plain"))
    done = bench.read_arm(tmp_path, "plain", 1, STEPS)
    assert done["final"]["test"] == 0.5
    assert str(path) in done["command"] and done["date"].startswith("20")


def test_an_arm_of_another_seed_or_budget_or_none_at_all_is_not_read(bench, tmp_path):
    write_result(tmp_path, fake_result("plain", steps=STEPS * 2))
    assert bench.read_arm(tmp_path, "plain", 1, STEPS) is None  # trained twice as long
    assert bench.read_arm(tmp_path, "plain", 2, STEPS) is None  # no run of seed 2
    assert bench.read_arm(tmp_path, "randomised", 1, STEPS) is None


def test_only_the_named_arm_is_trained_and_the_other_row_comes_from_the_earlier_run(
    bench, tmp_path, monkeypatch, capsys
):
    trained = []

    def run_arm(name, steps, seed, work, command=""):
        trained.append(name)
        return fake_result(name, seed, steps, test=0.75)

    monkeypatch.setattr(bench, "run_arm", run_arm)
    monkeypatch.setattr(bench, "nearest_training_colours", lambda **knobs: {})
    monkeypatch.setattr(bench, "rendered_nearness", lambda: {})
    monkeypatch.setattr(bench, "plot", lambda *args: None)
    earlier = tmp_path / "earlier"
    write_result(earlier, fake_result("plain", test=0.08))
    argv = ["--steps", str(STEPS), "--arms", "randomised", "--previous", str(earlier), "--work-dir", str(tmp_path)]
    bench.main(argv)
    assert trained == ["randomised"]
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert table[0].startswith("| plain | earlier run |") and "**8%**" in table[0]
    assert table[1].startswith("| randomised | this run |") and "**75%**" in table[1]


def test_an_earlier_run_without_the_missing_arm_is_a_clear_error(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "run_arm", lambda *args: pytest.fail("nothing should be trained"))
    write_result(tmp_path, fake_result("randomised"))
    argv = ["--steps", str(STEPS), "--arms", "randomised", "--previous", str(tmp_path / "empty")]
    with pytest.raises(SystemExit, match="no plain result"):
        bench.main([*argv, "--work-dir", str(tmp_path)])


def test_with_no_train_only_the_runs_there_are_read_and_the_section_names_the_missing_ones(
    bench, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(bench, "run_arm", lambda *args: pytest.fail("nothing should be trained"))
    monkeypatch.setattr(bench, "nearest_training_colours", lambda **knobs: {})
    monkeypatch.setattr(bench, "rendered_nearness", lambda: {})
    monkeypatch.setattr(bench, "plot", lambda *args: None)
    for name, seed in (("plain", 1), ("randomised", 1), ("randomised", 2)):
        write_result(tmp_path, fake_result(name, seed))
    bench.main(["--steps", str(STEPS), "--seeds", "1", "2", "--no-train", "--work-dir", str(tmp_path)])
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert [row.split(" | ")[0] + " " + row.split(" | ")[3] for row in table] == [
        "| plain 1",
        "| randomised 1",
        "| randomised 2",
    ]
    ordered = [(fake_result(name, seed), "this run") for name, seed in (("plain", 1), ("randomised", 1))]
    text = bench.section(ordered, [], NEAREST, RENDERED, {}, STEPS, [1, 2], [("plain", 2)])
    assert "Not run at 4k steps (not in the table): plain seed 2." in text
    assert "seeds 1, 2 only, so little spread" in " ".join(text.split())
    assert "Not run" not in bench.section(ordered, [], NEAREST, RENDERED, {}, STEPS, [1])


def test_the_arms_differ_in_the_randomization_kwarg_only_and_the_plain_arm_is_the_unrandomised_config(bench, tmp_path):
    plain = bench.arm_config(bench.ARMS["plain"], STEPS, 1, tmp_path)
    randomised = bench.arm_config(bench.ARMS["randomised"], STEPS, 1, tmp_path)
    assert plain.env_kwargs == {**bench.PIXELS.env_kwargs, "randomization": None}
    assert randomised.env_kwargs["randomization"] == {
        "zone_colors": "high",
        "zone_contrast": "high",
        "table_color": "high",
        "lighting": "high",
    }
    assert {**randomised.env_kwargs, "randomization": None} == plain.env_kwargs
    assert bench.dataclasses.replace(randomised, env_kwargs=plain.env_kwargs) == plain


def test_both_arms_final_policies_are_evaluated_in_the_plain_scene(bench, tmp_path):
    held_out = bench.held_out_config(STEPS, 1, tmp_path)
    assert held_out.env_kwargs["randomization"] is None
    assert held_out == bench.arm_config(bench.ARMS["plain"], STEPS, 1, tmp_path)


NEAREST = {
    **{f"{c}{suffix}": 0.5 for c in ("purple", "pink") for suffix in ("", " (seen colours)", " shell share")},
    **{f"{c}{suffix}": 0.1 for c in ("purple", "pink") for suffix in (" shell brightness", " hue share")},
}
NEAREST |= {f"uniform {key}": value for key, value in NEAREST.items()}
RENDERED = {"invisible share": 0.01, "purple rendered": [157.0, 67.0, 214.0], "pink rendered": [255.0, 146.0, 214.0]}


@pytest.mark.parametrize(("randomised_test", "verdict"), [(0.72, "**met**"), (0.69, "**not met**")])
def test_the_section_says_the_target_is_met_only_at_70_percent_test_success(bench, randomised_test, verdict):
    ordered = [
        (fake_result("plain", test=0.3), "this run"),
        (fake_result("randomised", test=randomised_test), "this run"),
    ]
    text = bench.section(ordered, ["plain: pink 0% (46 episodes)"], NEAREST, RENDERED, {}, STEPS, [1])
    assert verdict in text
    assert "against 30% without at the same budget" in " ".join(text.split())
    assert "plain: pink 0% (46 episodes)" in text


def test_rendered_zones_read_each_zone_near_its_named_colour_in_the_plain_scene(bench):
    zones = bench.rendered_zones(None, "test", 3)
    assert len(zones) == 3
    for named, colour in zones:
        assert named in ("purple", "pink")
        # The camera's colour of the zone's top face (lit, so not the material colour), nearest its own name.
        assert min(("purple", "pink", "orange"), key=lambda c: bench.math.dist(colour, bench.COLORS[c])) == named


def test_the_reading_blames_light_zones_only_when_the_probe_shows_light_trained_colours_failing(bench):
    final = {"plain": {"eval": [0.8], "test": [0.16]}, "randomised": {"eval": [0.65], "test": [0.31]}}
    light = {"pink G+65": 0.0, "pink B+65": 0.0, "pink R-65": 0.06, "light grey": 0.0}
    failing = bench.reading_text(final, [], {"randomised": {**light, "red": 0.7, "cyan": 0.7}})
    assert "not a failure to interpolate" in failing
    seen = bench.reading_text(final, [], {"randomised": {**light, "light grey": 0.9, "red": 0.7, "cyan": 0.7}})
    assert "not a failure to interpolate" not in seen and "90%" in seen and "still what it finds least" not in seen
    weaker = {"pink G+65": 0.12, "pink B+65": 0.31, "pink R-65": 0.25, "light grey": 0.06, "red": 0.81, "cyan": 0.62}
    partly = bench.reading_text(final, [], {"randomised": weaker})
    assert "still what it finds least" in partly and "not a failure to interpolate" not in partly
    assert "probe" not in bench.reading_text(final, [], {})


def test_the_reading_says_the_randomised_env_is_harder_only_when_its_training_success_is_lower(bench):
    final = {"plain": {"eval": [0.8], "test": [0.16], "train": [0.95]}, "randomised": {"eval": [0.3], "test": [0.28]}}
    harder = bench.reading_text({**final, "randomised": {**final["randomised"], "train": [0.34]}}, [], {})
    assert "harder to learn" in harder and "34% against 95%" in harder
    easier = bench.reading_text({**final, "randomised": {**final["randomised"], "train": [0.97]}}, [], {})
    assert "harder to learn" not in easier
