"""The multi-view tabletop of ``VistaViews-v0`` (needs the ``robot`` extra: PyBullet).

- :mod:`~vista_envs.views.scene`: layouts (objects, look-alikes, screens, the robot's pedestal), their split, building
  them.
- :mod:`~vista_envs.views.rig`: camera rigs around the table, projection, rendering a view.
- :mod:`~vista_envs.views.visibility`: what each camera sees of each object, read off the views' masks.
- :mod:`~vista_envs.views.questions`: the question kinds and their exact answers.
- :mod:`~vista_envs.views.marks`: rings, tags and labels drawn into the views; the mosaic.
- :mod:`~vista_envs.views.consistency`: the agreement reward for GRPO groups that see one scene from different rigs.
- :mod:`~vista_envs.views.view_tool`: the optional ``view`` tool (start with View 1, ask for the others).
- :mod:`~vista_envs.views.gallery`: contact sheets for checking by eye (``vista-envs gallery --views``).
"""
