"""``vista-agents plot``: curves from run directories' metrics, as a PNG or a self-contained HTML page."""

import pytest

pytest.importorskip("matplotlib")

from vista_agents.cli import main  # noqa: E402
from vista_agents.plot import panel_series  # noqa: E402
from vista_agents.run_log import RunLogger  # noqa: E402


def fake_run(path, slope):
    logger = RunLogger(path)
    for step in range(5):
        logger.log(
            step,
            {
                "reward": slope * step,
                "kl": 0.01 * step,
                "entropy": 1.0 - 0.1 * step,
                "loss": 1.0 / (1 + step),
                "grad_norm": 2.0,
            },
        )
    logger.log(5, {"eval/success_rate": 0.5, "eval/reward": 0.4})
    return path


def test_metrics_are_grouped_into_panels_and_non_numbers_are_skipped():
    rows = [
        {"step": 0, "reward": 1.0, "eval/reward": 0.5, "eval/success_rate": 0.25, "kl": None, "terms/format": 1.0},
        {"step": 1, "kl": 0.1, "note": "x"},
    ]
    panels = panel_series(rows)
    assert panels["reward"] == {"reward": [(0, 1.0)], "eval/reward": [(0, 0.5)]}
    assert panels["success / accuracy"] == {"eval/success_rate": [(0, 0.25)]}
    assert panels["KL"] == {"kl": [(1, 0.1)]} and panels["reward terms"] == {"terms/format": [(0, 1.0)]}
    assert "loss" not in panels


def test_plot_writes_a_png_of_several_runs_and_an_html_page(tmp_path, capsys):
    first, second = fake_run(tmp_path / "sft", 0.1), fake_run(tmp_path / "grpo", 0.2)
    main(["plot", str(first), str(second), "--out", str(tmp_path / "curves.png")])
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    main(["plot", str(first), "--out", str(tmp_path / "curves.html")])
    page = (tmp_path / "curves.html").read_text()
    assert "data:image/png;base64," in page and "eval/success_rate" in page
    assert str(tmp_path / "curves.html") in capsys.readouterr().out


def test_plot_refuses_a_folder_without_metrics_and_a_bad_extension(tmp_path):
    with pytest.raises(SystemExit, match="no metrics.jsonl"):
        main(["plot", str(tmp_path), "--out", str(tmp_path / "c.png")])
    with pytest.raises(SystemExit, match="must end in .png or .html"):
        main(["plot", str(fake_run(tmp_path / "run", 1.0)), "--out", str(tmp_path / "c.pdf")])
    with pytest.raises(SystemExit, match="none of the runs logged"):
        main(["plot", str(tmp_path / "run"), "--metrics", "no_such_metric", "--out", str(tmp_path / "c.png")])
