"""Demo agent: writes greeting.py (the first attempt has a bug the tests catch)."""

import pathlib
import sys

request = sys.stdin.read()
fixed = "Tests failed" in request
body = 'return f"Hello, {name}!"' if fixed else 'return "Hello, " + name'
pathlib.Path("greeting.py").write_text(f"def greet(name):\n    {body}\n")
print("Wrote greeting.py" + (" (fixed the missing '!')" if fixed else ""))
