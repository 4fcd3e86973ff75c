"""mypy on planner/ against a baseline of known errors that may only shrink.

    python scripts/mypy_baseline.py            # exit 1 if any error is not in mypy-baseline.txt
    python scripts/mypy_baseline.py --write    # rewrite the baseline (after fixing errors: it shrinks)

An error is keyed by file, error code and message, without its line number, so edits elsewhere in a file do
not disturb the baseline; the baseline counts each key, and a key whose count grows is a new error.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "mypy-baseline.txt"
LINE = re.compile(r"^(?P<file>[^:]+):\d+(?::\d+)?: error: (?P<msg>.*?)\s+\[(?P<code>[a-z-]+)\]$")


def run_mypy() -> Counter:
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-pretty", "--no-error-summary"], cwd=ROOT, capture_output=True, text=True
    )
    if res.returncode not in (0, 1):  # 2: mypy itself failed (bad config, crash)
        sys.exit(f"mypy failed (exit {res.returncode}):\n{res.stdout}{res.stderr}")
    return parse(res.stdout)


def parse(text: str) -> Counter:
    keys: Counter = Counter()
    for ln in text.splitlines():
        m = LINE.match(ln.strip())
        if m:
            keys[f"{m['file'].replace(chr(92), '/')}: [{m['code']}] {m['msg']}"] += 1
    return keys


def read_baseline(path: Path = BASELINE) -> Counter:
    keys: Counter = Counter()
    if path.exists():
        for ln in path.read_text().splitlines():
            if ln.strip() and not ln.startswith("#"):
                n, _, key = ln.partition(" ")
                keys[key] += int(n)
    return keys


def write_baseline(keys: Counter, path: Path = BASELINE) -> None:
    lines = [
        "# mypy errors on planner/ accepted for now (count, file, code, message); may only shrink.",
        "# Regenerate after fixing some: python scripts/mypy_baseline.py --write",
    ]
    lines += [f"{n} {k}" for k, n in sorted(keys.items())]
    path.write_text("\n".join(lines) + "\n")


def new_errors(current: Counter, baseline: Counter) -> list[str]:
    return [
        f"{k} (now {n}, baseline {baseline.get(k, 0)})" for k, n in sorted(current.items()) if n > baseline.get(k, 0)
    ]


def main(argv: list[str]) -> int:
    current = run_mypy()
    if "--write" in argv:
        write_baseline(current)
        print(f"mypy baseline: {sum(current.values())} errors written to {BASELINE.name}")
        return 0
    baseline = read_baseline()
    new = new_errors(current, baseline)
    total, base_total = sum(current.values()), sum(baseline.values())
    if new:
        print(f"mypy: {len(new)} new error(s) not in {BASELINE.name} (fix them; the baseline only shrinks):")
        print("\n".join(f"  {e}" for e in new))
        return 1
    fixed = base_total - total
    print(
        f"mypy: {total} known errors, none new"
        + (f"; {fixed} fixed: shrink the baseline with `python scripts/mypy_baseline.py --write`" if fixed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
