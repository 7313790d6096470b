# Dependency floors: the suite on the lowest versions pyproject.toml declares (mk/floors.txt), in its own venv.
#   make test-floors   .venv-floors with the dev tools, then every declared dependency pinned to its floor
# The test tools (moto, sqlfluff, ...) come at their current versions first; the floors are then installed over
# them without dependency resolution, because a test tool may want a newer PyYAML than our floor (moto's cfn-lint).
FLOORS_VENV := .venv-floors

.PHONY: test-floors
test-floors: ## run the suite on the declared dependency floors (mk/floors.txt), in .venv-floors
	test -x $(FLOORS_VENV)/bin/python || $(PYTHON_BIN) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FLOORS_VENV)/bin/python -m pip install --quiet -e '.[dev]'
	$(FLOORS_VENV)/bin/python -m pip install --quiet --no-deps -r mk/floors.txt
	$(FLOORS_VENV)/bin/python -m pip install --quiet --no-deps psycopg-binary==$$(sed -n 's/^psycopg\[binary\]==//p' mk/floors.txt)
	$(FLOORS_VENV)/bin/python -m pytest $(PYTEST_ARGS)
