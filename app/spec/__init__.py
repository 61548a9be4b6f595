"""The pipeline spec: pydantic models of agents.yaml and config.yaml, the loader and the one validator.

Pure: reads through a `Reader` it is given and imports nothing that does I/O.
"""
