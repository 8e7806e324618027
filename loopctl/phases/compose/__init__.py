"""The `compose` deploy target: the user's Compose file run by the real Compose CLI, loopctl's image pinned in it."""
