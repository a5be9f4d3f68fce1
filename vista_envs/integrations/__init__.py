"""Bridges from vista-envs to the trainers and servers researchers use, each behind its own extra.

The environments never import this package; each module imports its third-party library at the top, so
importing one bridge needs only its own extra (``openenv_server``: extra ``openenv``).
"""
