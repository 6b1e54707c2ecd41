# Two entry points, both doing all set-up themselves: `make demo` and `make test`.
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint bench install

demo: $(STAMP)
	$(VENV)/bin/dermledger demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(VENV)/bin/python bench/run.py

install: $(STAMP)

$(STAMP): pyproject.toml
	@PY=$$(scripts/find-python) && \
	  ( [ -x $(VENV)/bin/python ] && $(VENV)/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' || \
	    { rm -rf $(VENV) && $$PY -m venv $(VENV); } )
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@
