"""Shared pieces of the command line: the parser class, argument types, the scale-out and
profile options and --system.  Every `planner.cli.commands*` module imports these from here (no cycle)."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_BAD, EXIT_NOFIT = 0, 2, 3


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(EXIT_BAD, f"{self.prog}: error: {message}\n")


def arg_int(name):
    """argparse type: a whole number, with a one-line message naming the option."""

    def conv(text):
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got '{text}'") from None

    return conv


def arg_float(name):
    """argparse type: a number, with a one-line message naming the option."""

    def conv(text):
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got '{text}'") from None

    return conv


def add_scale_out(p):
    """Options for more than one device: shared by predict and simulate."""
    p.add_argument(
        "--system",
        help="a whole machine or cluster from `catalog systems` (e.g. dgx-h100, "
        "mac-studio-m3-ultra-512-x2): sets hardware, memory, devices, nodes, link and host; "
        "flags given explicitly win",
    )
    p.add_argument("--nodes", type=arg_int("--nodes"), default=1, help="machines joined by --link (e.g. Mac Studios)")
    p.add_argument("--link", help="interconnect id between machines (`catalog interconnects`)")
    p.add_argument("--parallel", help="e.g. tp=8 or tp=4,pp=2 or tp=8,ep=8 (default: the engine's usual split)")
    p.add_argument("--host", help="CPU host platform id for offload (`catalog hosts`)")
    p.add_argument("--offload", help="experts (MoE experts in host RAM, llama.cpp -ot exps=CPU) or layers:N")
    p.add_argument("--host-memory-gb", type=arg_float("--host-memory-gb"))


def add_profiles(p):
    p.add_argument(
        "--profiles",
        metavar="DIR",
        help="extra profile directory loaded on top of the built-ins (also $PLANNER_PROFILES)",
    )


def apply_system(cat, args) -> None:
    """Fill the machine options of `args` from --system (explicitly given flags win)."""
    if not getattr(args, "system", None):
        return
    sp = cat.get("systems", args.system, "system")
    defaults = {
        "hardware": None,
        "memory_gb": None,
        "devices": 1,
        "nodes": 1,
        "link": None,
        "host": None,
        "host_memory_gb": None,
    }
    for name, default in defaults.items():
        if getattr(args, name) == default:
            value = getattr(sp, name)
            setattr(args, name, value if value not in ("", None) else default)
