"""The offline playground: the main command's demo (and, later, the GitHub simulator)."""
