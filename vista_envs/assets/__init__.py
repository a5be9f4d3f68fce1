"""Data shipped with vista-envs (installed as the package ``vista_envs.assets``)."""
