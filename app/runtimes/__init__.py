"""Runtime adapters: every process a stage starts goes through here (the LLM CLIs, command, local)."""
