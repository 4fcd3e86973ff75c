"""Floor of `bench_render` with the app's frame: `st.navigation` of eight pages and a sidebar of the same
widgets as the app's scenario editor (a select box, a radio, ten number inputs, five closed tracked panels; its
pairs of inputs in horizontal blocks, as the app's since session 9: the floors measured before drew columns),
no planner work, no table, no chart.  `python -m tests.e2e.bench_render --script tests/e2e/floor/nav.py`."""

import streamlit as st

st.set_page_config(page_title="Floor", page_icon=":material/calculate:", layout="wide")


def compare() -> None:
    sb = st.sidebar
    sb.header("Scenario")
    sb.selectbox("Model", ["Llama 3.1 8B", "Llama 3.1 70B", "DeepSeek R1"], key="model")
    sb.caption("Each machine option runs its own engine and quantization (in its panel below).")
    sb.subheader("Workload")
    sb.radio("Load", ["a team", "busy users", "requests/s"], index=1, horizontal=True, key="load")
    n = sb.number_input("Busy users", 1, 100_000, value=4, step=1, key="users")
    row = sb.container(horizontal=True, wrap=False)
    row.number_input("Prompt tokens", 1, 1_000_000, value=1000, step=64, key="prompt")
    row.number_input("Output tokens", 1, 1_000_000, value=250, step=64, key="output")
    row = sb.container(horizontal=True, wrap=False)
    row.number_input("Requests simulated", 1, 100_000, value=400, step=100, key="requests")
    row.number_input("Seed", 0, 2**31 - 1, value=0, step=1, key="seed")
    sb.subheader("SLO (p95)")
    row = sb.container(horizontal=True, wrap=False)
    row.number_input("TTFT, s (0 = none)", 0.0, 1e6, value=0.0, step=1.0, key="ttft")
    row.number_input("TPOT, ms (0 = none)", 0.0, 1e6, value=0.0, step=10.0, key="tpot")
    sb.subheader("Machine options")
    k = sb.number_input("How many (1-6)", 1, 6, value=4, step=1, key="n")
    for i in range(int(k)):
        sb.expander(f"Option {i + 1}", key=f"panel:{i}", on_change="rerun")
    sb.expander("Cost assumptions", key="panel:cost", on_change="rerun")
    st.title("Compare machines")
    st.write(f"At {n} busy users")


def other() -> None:
    st.title("Another page")


pg = st.navigation(
    [
        st.Page(compare, title="Compare", icon=":material/balance:", default=True),
        *(
            st.Page(other, title=t, icon=":material/menu_book:", url_path=u)
            for t, u in (
                ("Load sweep", "load_sweep"),
                ("Capacity plan", "capacity_plan"),
                ("Catalog", "catalog"),
                ("Your measurements", "measurements"),
                ("Accuracy", "accuracy"),
                ("Claims", "claims"),
                ("Glossary", "glossary"),
            )
        ),
    ]
)
pg.run()
