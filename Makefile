# The two set-up commands of the README. Both refresh .venv from uv.lock first.
.PHONY: run test

run:
	scripts/venv.sh
	.venv/bin/python -m rag model
	.venv/bin/streamlit run app.py --server.address 127.0.0.1 --server.port 8501 --browser.gatherUsageStats false

test:
	scripts/venv.sh
	scripts/test-system-deps.sh
	.venv/bin/python -m pytest -q -rs
