"""Demo agent: the last stage after approval."""

import sys

print("Released after approval:", sys.stdin.read().strip().splitlines()[-1][:80])
