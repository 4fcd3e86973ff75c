"""Glossary: every term the app uses, in one line each (planner.glossary, also the tooltips)."""

import streamlit as st

from planner.glossary import TERMS

st.title("Glossary")
st.caption(
    "The words the app uses, each in one line. The same lines are the tooltips (the question-mark icon next to "
    "a field)."
)
st.markdown(
    "\n".join(f"- **{term}** — {meaning}" for term, meaning in sorted(TERMS.values(), key=lambda t: t[0].lower()))
)
