"""The verl agent loop for multi-turn ``VistaTool-v0`` (imports verl: use it inside a verl run).

Exported ``VistaTool-v0`` rows carry ``agent_name="vista_tool_agent"``; importing this module registers the
loop under that name (``@register``, as verl's own loops are), so verl's agent-loop worker runs
:class:`~vista_envs.integrations.verl.VistaToolRollout` for them. Env kwargs come from the rollout config's
``custom.vista_env_kwargs`` (optional).
"""

from __future__ import annotations

from typing import Any

from verl.experimental.agent_loop.agent_loop import (
    AgentLoopBase,
    AgentLoopOutput,
    register,
)

from vista_envs.integrations.verl import VistaToolRollout

__all__ = ["VistaToolAgentLoop"]


@register("vista_tool_agent")
class VistaToolAgentLoop(AgentLoopBase):
    """Token-in/token-out ``VistaTool-v0`` episodes: ``response_mask`` is 1 on model tokens only, every image of
    the conversation goes to ``multi_modal_data["images"]`` and the env's return to ``reward_score``."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        custom = self.rollout_config.get("custom", None) or {}
        env_kwargs = dict(custom.get("vista_env_kwargs", None) or {})
        self.rollout = VistaToolRollout(
            self.tokenizer, self.processor, int(self.rollout_config.response_length), **env_kwargs
        )

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        result = await self.rollout.run(self.server_manager, sampling_params, kwargs["extra_info"])
        return AgentLoopOutput(
            prompt_ids=result.prompt_ids,
            response_ids=result.response_ids,
            response_mask=result.response_mask,
            response_logprobs=result.response_logprobs,
            multi_modal_data={"images": result.images},
            reward_score=result.reward,
            num_turns=2 * result.num_turns,
            metrics={},
            extra_fields={"reward_terms": result.reward_terms, "is_success": result.is_success},
        )
