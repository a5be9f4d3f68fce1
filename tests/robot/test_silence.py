"""Importing the robot envs prints nothing: PyBullet's C-level build banner is silenced, and only around its import."""

import subprocess
import sys

BANNER = "pybullet build time"


def test_cli_list_shows_the_robot_envs_without_the_pybullet_banner_on_either_stream():
    run = subprocess.run([sys.executable, "-m", "vista_envs.cli", "list"], capture_output=True, text=True, check=True)
    assert "VistaRobotEE-v0        The ``VistaRobot-v0`` tabletop" in run.stdout  # the robot module was imported
    assert BANNER not in run.stdout and BANNER not in run.stderr


def test_a_bare_pybullet_import_does_print_the_banner_so_the_test_above_can_fail():
    run = subprocess.run([sys.executable, "-c", "import pybullet"], capture_output=True, text=True, check=True)
    assert BANNER in run.stdout + run.stderr


def test_silenced_output_hides_file_descriptor_writes_only_inside_the_block_and_restores_both():
    code = (
        "import os\n"
        "from vista_envs.robot.silence import silenced_output\n"
        "with silenced_output():\n"
        "    os.write(1, b'hidden-out\\n'); os.write(2, b'hidden-err\\n')\n"
        "os.write(1, b'shown-out\\n'); os.write(2, b'shown-err\\n')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == "shown-out\n" and run.stderr == "shown-err\n"


def test_an_exception_inside_the_block_still_propagates_and_the_streams_come_back():
    code = (
        "import os\n"
        "from vista_envs.robot.silence import silenced_output\n"
        "try:\n"
        "    with silenced_output():\n"
        "        raise ImportError('missing extra')\n"
        "except ImportError as error:\n"
        "    os.write(1, f'caught {error}'.encode())\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == "caught missing extra"


def test_making_and_stepping_a_robot_env_prints_nothing_but_what_the_caller_prints():
    code = (
        "import gymnasium as gym, vista_envs\n"
        "print('before', flush=True)\n"
        "env = gym.make('VistaRobotEE-v0', obs_mode='state')\n"
        "env.reset(seed=0); env.step(env.action_space.sample()); env.close()\n"
        "print('after')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == "before\nafter\n"
    assert "argv[0]" not in run.stderr and BANNER not in run.stderr
