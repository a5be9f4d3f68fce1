r"""A consistency reward for GRPO groups that see one scene through different camera rigs.

Viewpoint invariance as a training signal: reset G envs with the same ``task_seed`` and different
``view_seed`` on a view-independent family (``occluded_count``, ``relation``: a question's answer does not
depend on where the cameras stand, and most rigs of a scene ask the same question, the first of the scene's
candidates they can answer; keep in a group the members whose prompt asks the same question), and the G
responses should agree. :func:`consistency_rewards`
pays each response the share of the *other* responses in its group that give the same answer:

.. math::

    r_i = \frac{1}{G - 1} \sum_{j \ne i} [\,a_i = a_j\,], \qquad r_i = 0 \text{ when } a_i \text{ cannot be read}

where :math:`a_i` is response *i*'s extracted answer, normalised by answer type (``"3"``, ``"three"``
and ``"3.0"`` agree; so do ``"Left"`` and ``"left."``). It needs no ground truth, so it can be added to
the correctness reward on unlabelled rigs; unanimous wrong answers also agree, which is why it is a
complement to correctness, never a replacement.

Example::

    envs = [gym.make("VistaViews-v0") for _ in range(4)]
    for g, env in enumerate(envs):
        env.reset(options={"task_seed": 7, "view_seed": 100 + g, "family": "occluded_count", "difficulty": 3})
    responses = policy.act(...)
    bonus = consistency_rewards(responses, "number")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vista_envs.answers.extract import ResponseFormat, get_response_format
from vista_envs.answers.normalize import normalize_text, parse_number, parse_yes_no

__all__ = ["answer_key", "consistency_rewards"]


def answer_key(response: Any, answer_type: str, response_format: str | ResponseFormat = "think_answer") -> Any:
    """The normalised answer of ``response`` that group members are compared on (None: none can be read)."""
    if not isinstance(response, str):
        return None
    answer = get_response_format(response_format).parse(response).answer
    if answer is None:
        return None
    if answer_type == "number":
        return parse_number(answer)
    if answer_type == "yes_no":
        return parse_yes_no(answer)
    return normalize_text(answer) or None


def consistency_rewards(
    responses: Sequence[Any], answer_type: str, response_format: str | ResponseFormat = "think_answer"
) -> list[float]:
    """Per response, the share in [0, 1] of the other responses of the group with the same answer (see the module)."""
    keys = [answer_key(response, answer_type, response_format) for response in responses]
    if len(keys) < 2:
        return [0.0] * len(keys)
    rewards = []
    for i, key in enumerate(keys):
        if key is None:
            rewards.append(0.0)
            continue
        rewards.append(sum(other == key for j, other in enumerate(keys) if j != i) / (len(keys) - 1))
    return rewards
