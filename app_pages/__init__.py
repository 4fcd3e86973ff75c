"""Pages of the Streamlit app (app.py); shared glue in ui.py, charts in charts.py."""
