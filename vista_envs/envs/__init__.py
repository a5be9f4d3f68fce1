"""The environments; each module holds one env class (ids in vista_envs.registration)."""
