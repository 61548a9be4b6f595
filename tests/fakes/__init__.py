"""The fake LLM CLIs (claude, gemini, codex) shared by every test: see fakecli.py."""
