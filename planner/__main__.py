import os
import sys

from planner.cli.commands import main

try:
    code = main()
    sys.stdout.flush()
except BrokenPipeError:  # the reader went away (`python -m planner ... | head`): no traceback for that
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (Python flushes stdout again at exit)
    code = 1
sys.exit(code)
