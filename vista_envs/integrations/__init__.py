"""Bridges from vista-envs to the trainers and servers researchers use.

Each bridge lives in its own module and imports its third-party package lazily or at its own top, behind its
own extra, so ``import vista_envs`` (and this package) never pulls in a trainer or a server:

- :mod:`vista_envs.integrations.tasks`: what every bridge shares: a task drawn from an env as a row (prompt,
  image, a reference that rebuilds the task, the ground truth a verifier needs) and the env's own scoring of a
  response against that ground truth. Needs nothing beyond vista-envs.
- :mod:`vista_envs.integrations.trl`: TRL's ``GRPOTrainer`` (extra ``trl``): ``make_dataset``,
  ``reward_functions`` and the ``VistaToolEnvironment`` ``environment_factory`` for multi-turn tool use.
- :mod:`vista_envs.integrations.export`: parquet datasets in verl's and EasyR1's row schemas (extras ``verl`` /
  ``easyr1``), also ``vista-envs export``.
- :mod:`vista_envs.integrations.verl`: verl's ``compute_score`` and a multi-turn ``AgentLoopBase`` subclass.
- :mod:`vista_envs.integrations.easyr1`: EasyR1's batch reward function.
- :mod:`vista_envs.integrations.openenv_server`: ``vista-envs serve``, any env id over OpenEnv's protocol
  (extra ``openenv``); ``Remote-v0`` (:mod:`vista_envs.envs.remote`) steps a served env.

The envs never import this package: integrations depend on envs, not the other way round.
See ``docs/integrations.md`` for a runnable example per trainer and for the OpenEnv client.
"""
