"""Vector envs beyond Gymnasium's own: :class:`RayVectorEnv` runs each sub-env as a Ray actor.

Importing this package does not import Ray; building a :class:`RayVectorEnv` does (extra ``distributed``).
"""

from vista_envs.vector.ray_vector_env import (
    DEFAULT_ACTOR_OPTIONS,
    RESOURCE_HINTS,
    RayVectorEnv,
    make_ray_vec,
    replacement_seed,
)

__all__ = ["DEFAULT_ACTOR_OPTIONS", "RESOURCE_HINTS", "RayVectorEnv", "make_ray_vec", "replacement_seed"]
