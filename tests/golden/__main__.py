"""``python -m tests.golden``: rewrite the simulator's golden summaries (see tests/golden/cases.py)."""

from tests.golden.cases import write

if __name__ == "__main__":
    for line in write():
        print(line)
