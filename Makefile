# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TASK ?= classification
export PYTHONUNBUFFERED := 1

MP_VENV := .venv-mediapipe
MP_STAMP := $(MP_VENV)/.installed
MEDIAPIPE := mediapipe==1.2.3

.PHONY: install mediapipe-venv demo test test-fast bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# MediaPipe Tasks (the runtime phone apps use) cannot be installed beside tf-models-official (absl-py
# pins): a venv of its own, driven in a subprocess by tests/tflite/test_mediapipe_client.py. When the
# registry cannot be reached the reason is written to $(MP_VENV)/UNAVAILABLE and those tests skip with it.
$(MP_STAMP):
	rm -rf $(MP_VENV) && python3 -m venv $(MP_VENV)
	if $(MP_VENV)/bin/python -m pip install -q $(MEDIAPIPE) pillow > $(MP_VENV)/install.log 2>&1; \
	then rm -f $(MP_VENV)/UNAVAILABLE; \
	else (echo "pip install $(MEDIAPIPE) failed:"; tail -3 $(MP_VENV)/install.log) > $(MP_VENV)/UNAVAILABLE; fi
	touch $(MP_STAMP)

mediapipe-venv: $(MP_STAMP)

# On a 2-core CPU the small demo model trains ~25% faster (and without stalls) with one thread
# per op and two ops at a time than with TF's default of two threads per op.
demo: export TF_NUM_INTRAOP_THREADS ?= 1
demo: export TF_NUM_INTEROP_THREADS ?= 2
demo: install
	$(PY) -m mnv2_tf.tools.demo --task=$(TASK)

# Everything (budget: 15 min on 2 quiet cores), the slowest 15 tests listed and the total; test-fast
# skips the `slow` marker (budget: 3 min; no training, conversion or subprocess: tests/conftest.py).
# Two pytest-xdist workers: much of a test is single-threaded (tracing, conversion, a tool's start),
# so two at a time fill both cores; a module stays on one worker (its fixtures are built once) and the
# session's trained runs and exports are built once for both (tests/conftest.py `shared`).
# PYTEST_WORKERS=0 runs in one process. Measured times: docs/testing.md.
PYTEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadscope)

test: install mediapipe-venv
	$(PY) -m pytest -q tests $(XDIST) --durations=15

test-fast: install
	$(PY) -m pytest -q tests -m "not slow" $(XDIST) --durations=15

bench: install
	$(PY) benchmarks/keras_forward.py
	$(PY) benchmarks/tflite_latency.py --grid=0.35/224,0.75/224,1.0/224,1.4/224,1.0/128 \
		--heads --splits=auto --reference=keras_applications --num_runs=120 --rounds=12

clean:
	rm -rf $(VENV) $(MP_VENV) workspace .pytest_cache
