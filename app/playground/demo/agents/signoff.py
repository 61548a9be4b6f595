"""Demo agent: shows the maintainer what to sign off: the code and the review."""

import pathlib
import sys

review = sys.stdin.read().strip()
print("Ready for a maintainer's sign-off. greeting.py:")
print(pathlib.Path("greeting.py").read_text())
print(f"Review:\n{review}")
