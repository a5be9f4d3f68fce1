"""Learners (policies, rollouts, SFT, GRPO, PPO) that train VLMs on vista-envs through the Gymnasium API."""
