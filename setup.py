"""Package discovery that pyproject.toml cannot express: the learners live in the folder ``agents/`` but import as
``vista_agents``, because ``agents`` is also the import name of the widely installed OpenAI Agents SDK."""

from setuptools import find_packages, setup

LEARNERS = ["vista_agents" + name[len("agents") :] for name in find_packages(include=["agents", "agents.*"])]

setup(packages=find_packages(include=["vista_envs", "vista_envs.*"]) + LEARNERS, package_dir={"vista_agents": "agents"})
