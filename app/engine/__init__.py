"""The pure pipeline engine: decide(spec, state, event) -> (state, commands).

Arrives with the engine issue; nothing here may do I/O (import-linter enforces it).
"""
