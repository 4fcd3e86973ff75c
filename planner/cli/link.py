"""CLI for share links: ``python -m planner link SCENARIO.json`` prints the query string;
``python -m planner link --decode QUERY`` prints the scenario JSON.  Bad input: exit 2, one line."""

from __future__ import annotations

import json

from planner.errors import UsageError
from planner.sim.scenario import load_scenario, scenario_catalog
from planner.webapp.links import decode, decode_strict, encode

COMMANDS = ("link",)


def add_link_commands(sub) -> None:
    p = sub.add_parser(
        "link",
        help="share link of a scenario (the web app's URL query), or decode one",
        description="Only fields that differ from the app's default scenario are written, "
        "under the Scenario's dotted field names, plus v=2 (v=1 links are migrated).",
    )
    p.add_argument("scenario", nargs="?", help="scenario file (.json or .toml)")
    p.add_argument("--decode", metavar="QUERY", help="a link's query string (with or without '?', or a whole URL)")
    if not any("--profiles" in a.option_strings for a in p._actions):
        p.add_argument("--profiles", metavar="DIR", help="extra profile directory (also $PLANNER_PROFILES)")


def run_link_command(catalog, args) -> int:
    if (args.scenario is None) == (args.decode is None):
        raise UsageError("give a scenario file to encode, or --decode QUERY (one of them)")
    if args.decode is not None:
        q = args.decode
        if "?" in q:
            q = q.split("?", 1)[1]
        sc = decode_strict(q, catalog)
        print(json.dumps(sc.model_dump(mode="json"), indent=2))
        return 0
    sc = load_scenario(args.scenario)
    scenario_catalog(catalog, sc)  # custom hardware ids must not shadow the catalog
    _, warnings = decode(encode(sc), catalog)
    if warnings:  # e.g. an unknown hardware id: the link would not restore this scenario
        w = warnings[0]
        raise UsageError(f"{w.field}: {w.message.split('; ')[0]}")
    print(encode(sc))
    return 0
