"""Floor of `bench_render`: the smallest page it can drive (a title, the number input it changes, one line of
text naming the value).  `python -m tests.e2e.bench_render --script tests/e2e/floor/minimal.py` measures what
Streamlit itself costs on this machine: a first load and a re-render of a page with nearly nothing on it."""

import streamlit as st

st.title("Floor")
n = st.number_input("Busy users", 1, 100_000, value=4, step=1)
st.write(f"At {n} busy users")
