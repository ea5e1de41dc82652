# Quick start: `make demo` and `make test`. Both create and fill .venv when needed.
PY      := .venv/bin/python
STAMP   := .venv/.installed

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) run_stream.py --source assets/sample.mp4

test: $(STAMP)
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf .venv build *.egg-info
