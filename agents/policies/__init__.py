"""Policies that act in vista-envs through the Gymnasium API."""

from agents.policies.base import Policy

__all__ = ["Policy"]
