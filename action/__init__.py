"""The GitHub Action: `python -m action` hands one workflow event to the GitHub core (app/github/)."""
