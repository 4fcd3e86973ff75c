"""Inference Planner web app: `make run` (`python -m app_pages.serve`, warm) or `streamlit run app.py`.

Thin: the scenario lives in the URL (planner.webapp.links), widgets edit it, planner computes, Altair
draws.  Pages are declared with st.navigation; Compare is the default.
"""

import streamlit as st

from app_pages.head import head

st.set_page_config(page_title="Inference Planner", page_icon=":material/calculate:", layout="wide")
head()  # first: the browser loads the scripts it will need while the server imports planner

from app_pages import ui  # noqa: E402

sc = ui.init_state()
pages = [
    st.Page("app_pages/compare.py", title="Compare", icon=":material/balance:", default=True),
    st.Page("app_pages/sweep.py", title="Load sweep", icon=":material/show_chart:", url_path="load_sweep"),
    st.Page("app_pages/plan.py", title="Capacity plan", icon=":material/dns:", url_path="capacity_plan"),
    st.Page("app_pages/catalog.py", title="Catalog", icon=":material/menu_book:", url_path="catalog"),
    st.Page(
        "app_pages/measurements.py", title="Your measurements", icon=":material/upload_file:", url_path="measurements"
    ),
    st.Page("app_pages/accuracy.py", title="Accuracy", icon=":material/target:", url_path="accuracy"),
    st.Page("app_pages/claims.py", title="Claims", icon=":material/fact_check:", url_path="claims"),
    st.Page("app_pages/glossary.py", title="Glossary", icon=":material/dictionary:", url_path="glossary"),
]
pg = st.navigation(pages)
pg.run()
ui.sync_url(st.session_state[ui.KEY])
