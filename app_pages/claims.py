"""Claims: the news article's claims, each checked by the model, with the numbers behind it."""

import streamlit as st

from app_pages import ui
from planner.webapp.claims import check_claims

ICON = {
    "supported": ":green[:material/check_circle:]",
    "partly supported": ":orange[:material/contrast:]",
    "contradicted": ":red[:material/cancel:]",
    "not verifiable": ":gray[:material/help:]",
    "not modelled yet": ":gray[:material/construction:]",
}


@st.cache_data(show_spinner="checking the claims")
def claims() -> list[dict]:
    return check_claims(ui.catalog())


def fmt(v) -> str:
    return v if isinstance(v, str) else f"{v:,g}"


ui.init_state()
st.title("The article's claims, checked")
cs = claims()
st.caption(
    f"Source: {cs[0]['source']}. Every number below comes from the catalog (with its source) or from "
    "the model; the link opens the scenario that checks the claim."
)
counts = {}
for c in cs:
    counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
st.markdown(" · ".join(f"{ICON[v]} {v}: **{n}**" for v, n in counts.items()))
for c in cs:
    with st.container(border=True):
        st.markdown(f"**{c['id']}. {c['text']}**")
        st.markdown(f"{ICON[c['verdict']]} **{c['verdict']}** — {c['explanation']}")
        if c["numbers"]:
            lines = [
                f"- {n['label']}: **{fmt(n['value'])} {n['unit']}**"
                + (f" — {ui.linkify(n['source'])}" if n["source"] else "")
                for n in c["numbers"]
            ]
            st.markdown("\n".join(lines))
        page = c["page"]
        st.markdown(f"[Open the scenario that checks it](/{page}?{c['query']})")
