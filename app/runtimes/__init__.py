"""Runtime adapters: every process a stage starts goes through here (claude, gemini, codex, command)."""
