"""One module per kind of event aqm acts on; app/github/router.py hands each event to its module."""
