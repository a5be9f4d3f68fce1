"""The VisPlay envs: a Questioner and a Reasoner co-evolve by self-play on procedural images.

One module per id, over the rules of :mod:`vista_envs.visplay`:

- :mod:`~vista_envs.envs.visplay.questioner`: ``VisPlayQuestioner-v0``, the agent asks; a pluggable Reasoner answers
  ``m`` times;
- :mod:`~vista_envs.envs.visplay.reasoner`: ``VisPlayReasoner-v0``, the agent answers questions from a pluggable
  Questioner or a question bank, paid against majority-vote pseudo-labels;
- :mod:`~vista_envs.envs.visplay.selfplay`: ``VisPlay-v0``, the whole round, turn based: the agent plays both roles;
- :mod:`~vista_envs.envs.visplay.scene_env`: what they share (scene images, both roles' prompts, in-env players'
  inputs);
- :mod:`~vista_envs.envs.visplay.pettingzoo_env`: ``VisPlay-v0`` as a PettingZoo AEC game (needs ``pettingzoo``; not
  imported here).
"""

from vista_envs.envs.visplay.questioner import VisPlayQuestionerEnv
from vista_envs.envs.visplay.reasoner import VisPlayReasonerEnv
from vista_envs.envs.visplay.scene_env import SCENE_FAMILIES, questioner_instruction
from vista_envs.envs.visplay.selfplay import VisPlayEnv

__all__ = ["SCENE_FAMILIES", "VisPlayEnv", "VisPlayQuestionerEnv", "VisPlayReasonerEnv", "questioner_instruction"]
