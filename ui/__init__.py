"""The panels of the web page (app.py is the shell that lays them out).

Each panel module owns the st.session_state keys it uses, named with its prefix: form_* (the
request form), chat_* (versions, chat, editing), lib_* (范文库), docs_* (我的文稿).
"""
