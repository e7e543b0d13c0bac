# Fireside: `make run` serves the app on the embedded defaults; `make test` runs the whole
# suite (SQLite, then PostgreSQL). Both set up the virtual environment first.
.PHONY: setup run test lint format

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@uv sync --frozen --quiet

run: setup
	.venv/bin/python manage.py run --host 127.0.0.1 --port 8000

test: setup
	bash tools/run_tests.sh

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
