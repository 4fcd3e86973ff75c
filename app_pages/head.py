"""The page's head, sent first on every run, before app.py imports `planner` (on a server's first session the
imports take a second; the browser fetches and compiles the scripts it will need meanwhile): layout CSS
Streamlit has no option for, and the frontend's scripts for tables and charts to preload.  Imports nothing but
Streamlit."""

import json
import re
from pathlib import Path

import streamlit as st

CSS = """<style>
/* long hardware names in a multiselect wrap instead of being cut ("NVIDIA GeForce RTX…") */
[data-testid="stMultiSelectTagsContainer"] [data-tag] { height: auto !important; max-width: 100% !important; }
[data-testid="stMultiSelectTagsContainer"] [data-tag] > span[title] { white-space: normal !important;
  overflow: visible !important; text-overflow: clip !important; max-width: none !important; }
/* the share link (a long unbroken link in a text) wraps inside the main column */
[data-testid="stMarkdownContainer"] a { overflow-wrap: anywhere; }
/* code boxes (the Capacity plan's link) wrap long unbroken text inside their box */
[data-testid="stCode"] pre, [data-testid="stCode"] code { white-space: pre-wrap !important;
  overflow-wrap: anywhere !important; word-break: break-all; }
</style>"""


# the scripts Streamlit's page loads only when the first table or chart arrives (on a first load, after
# the simulations): named as modulepreload links at a session's start, the browser fetches and parses them
# while the server computes.  Streamlit's build names them with a hash: they are found in its installed frontend
# with the chunks they import (none found, none named).
_STATIC = Path(st.__file__).parent / "static" / "static" / "js"
_IMPORT = re.compile(r'from\s*"\./([\w.\-]+\.js)"')


def _chunks(stems: tuple[str, ...]) -> list[str]:
    todo = [f.name for stem in stems for f in sorted(_STATIC.glob(f"{stem}.*.js"))[:1]]
    seen: list[str] = []
    while todo and len(seen) < 200:
        name = todo.pop(0)
        if name not in seen and (_STATIC / name).is_file():
            seen.append(name)
            todo += _IMPORT.findall((_STATIC / name).read_text(errors="replace"))
    return seen


CHUNKS = _chunks(("DataFrame", "ArrowVegaLiteChart"))
# the links are added by a script: a link in a Markdown text would need Streamlit's HTML-in-Markdown script (190 kB,
# loaded first, the links only after it); st.html's is 2 kB and adds the page's CSS the same way
PRELOAD = (
    "<script>for (const n of %s) { const h = new URL('./static/js/' + n, document.baseURI).href;"
    " if (!document.querySelector(`link[href=\"${h}\"]`)) { const l = document.createElement('link');"
    " l.rel = 'modulepreload'; l.href = h; document.head.appendChild(l); } }</script>"
) % json.dumps(CHUNKS)


def head() -> None:
    """The CSS and the scripts to preload (called once per run by app.py, first; the same element on every run, so
    the browser runs its script once)."""
    st.html(CSS + PRELOAD, unsafe_allow_javascript=True)
