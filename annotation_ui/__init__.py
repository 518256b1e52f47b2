"""The Streamlit prompt-writing GUI (`weprompt annotate`); the logic it calls lives in `weprompt`."""
