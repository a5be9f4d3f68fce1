"""The PyBullet tabletop behind ``VistaRobot-v0`` and ``VistaRobotEE-v0`` (needs the ``robot`` extra).

Composed as in panda-gym: a simulator wrapper, a robot and a task, with the env as the loop around them.

- :mod:`~vista_envs.robot.sim`: :class:`PyBullet`, one ``BulletClient`` (``p.DIRECT``) and the calls the envs use;
  TinyRenderer by default, the EGL plugin optionally.
- :mod:`~vista_envs.robot.panda`: the Franka Panda, end-effector delta control, assisted grasping.
- :mod:`~vista_envs.robot.objects`: coloured cubes, spheres, cylinders, pyramids, prisms, bowls, trays, zones;
  the seen/unseen split of colours and shapes.
- :mod:`~vista_envs.robot.tasks`: one module per task (goals, instructions with paraphrases, oracle plans).
- :mod:`~vista_envs.robot.plan`: the plan language of ``VistaRobot-v0``; :mod:`~vista_envs.robot.scene`: scoring
  ``<scene>`` descriptions.
- :mod:`~vista_envs.robot.controller`: the scripted primitive controller and the low-level policy protocol.
- :mod:`~vista_envs.robot.randomization`: domain randomisation knobs and levels.
- :mod:`~vista_envs.robot.core`: :class:`RobotTaskEnv`, what both envs share.
- :mod:`~vista_envs.robot.prompts`: what a language-reading agent is told (system prompts, action formats, chat turns).
- :mod:`~vista_envs.robot.silence`: keeps PyBullet's C-level prints (build banner, ``argv[0]=``) out of users' output.
"""
