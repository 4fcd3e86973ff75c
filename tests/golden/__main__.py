"""``python -m tests.golden``: rewrite the simulator's golden summaries (see tests/golden/cases.py) and the
command line's golden predictions and plan (tests/golden/predictions.py)."""

from tests.golden import predictions
from tests.golden.cases import write

if __name__ == "__main__":
    for line in write() + predictions.write():
        print(line)
