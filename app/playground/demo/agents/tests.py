"""Demo agent: runs a check; its exit code is the verdict (0 = approved)."""

import importlib
import pathlib
import sys

sys.path.insert(0, ".")
print("greeting.py:")
print(pathlib.Path("greeting.py").read_text())
greeting = importlib.import_module("greeting")
result = greeting.greet("Ada")
print(f"greet('Ada') -> {result!r}")
if result != "Hello, Ada!":
    print("expected 'Hello, Ada!'")
    sys.exit(1)
print("1 passed")
