"""The Streamlit-free side of the app pages: defaults and options (compare), share links, CSV, the budget clamps, verdicts, claims, your own measurements."""
