"""EasyR1's reward function for vista-envs tasks exported with ``vista-envs export --format easyr1``.

EasyR1 loads a batch reward function by path (``worker.reward.reward_function=
/path/to/vista_envs/integrations/easyr1.py:compute_score``, ``worker.reward.reward_type=batch``) and calls it
with a list of ``{"response", "response_length", "ground_truth"}`` dicts; ``ground_truth`` is the row's
``answer`` column, our ground-truth JSON. Each result holds ``overall`` (what EasyR1 optimises: the env's
reward) and the env's reward terms, which EasyR1 logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vista_envs.integrations.tasks import score_response

__all__ = ["compute_score"]


def compute_score(reward_inputs: Sequence[Mapping[str, Any]], **kwargs: Any) -> list[dict[str, float]]:
    """Score a batch of responses as the env would: ``overall`` is the env's reward, the rest its terms.

    Extra keyword arguments (EasyR1's ``reward_function_kwargs``) are accepted and ignored: the weights are
    the env's, carried in each ground truth.
    """
    if isinstance(reward_inputs, Mapping):
        raise ValueError("vista-envs' EasyR1 reward function is a batch function: set worker.reward.reward_type=batch")
    scores = []
    for reward_input in reward_inputs:
        scored = score_response(reward_input["response"], reward_input["ground_truth"])
        scores.append({"overall": scored.reward, **scored.terms})
    return scores
