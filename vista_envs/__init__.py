"""vista-envs: Gymnasium environments for reinforcement learning of vision-language models.

Importing the package registers every environment id::

    import gymnasium as gym
    import vista_envs  # noqa: F401
    env = gym.make("VisualQA-v0")

``gym.make("vista_envs:VisualQA-v0")`` works without the import.
"""

from vista_envs.registration import ENV_IDS, register_envs

__version__ = "0.1.0"
__all__ = ["ENV_IDS", "__version__", "register_envs"]

register_envs()
