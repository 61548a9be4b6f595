"""The GitHub Action entry point (`python -m action`). Placeholder until the Action issue."""
