"""The learners import as ``vista_agents``: the OpenAI Agents SDK, widely installed, is imported as ``agents``."""

import subprocess
import sys


def test_the_learners_and_a_package_named_agents_import_side_by_side(tmp_path):
    sdk = tmp_path / "agents"  # a stand-in for the OpenAI Agents SDK, first on the path
    sdk.mkdir()
    (sdk / "__init__.py").write_text('NAME = "the OpenAI Agents SDK"\n')
    script = (
        "import agents, vista_agents, vista_agents.policies, vista_agents.cli; "
        "assert agents.NAME == 'the OpenAI Agents SDK'; "
        "assert vista_agents.policies.__name__ == 'vista_agents.policies'; print('both')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path)}
    )
    assert result.returncode == 0 and result.stdout.strip() == "both", result.stderr
