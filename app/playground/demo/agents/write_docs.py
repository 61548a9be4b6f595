"""Demo agent: saves the documentation the docs agent wrote (its input) as GREETING.md."""

import pathlib
import sys

text = sys.stdin.read().strip() or "`greet(name)` returns a friendly greeting."
pathlib.Path("GREETING.md").write_text(f"# greeting\n\n{text}\n")
print(f"Wrote GREETING.md ({len(text)} characters from the docs agent)")
