# Set-up and the two everyday jobs. Each target creates what it needs on a fresh clone:
# a virtual environment in $(VENV), the requirements, and the compiled extension.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
ARGS ?=

.PHONY: setup demo test clean

setup: $(VENV)/.requirements vipriors/.extension-built

$(VENV)/.requirements: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

# `python setup.py develop`: an editable install that compiles vipriors._C against the
# torch just installed (CUDA kernels too where nvcc is found; VIPRIORS_CPU_ONLY=1 skips them).
vipriors/.extension-built: $(VENV)/.requirements setup.py $(wildcard csrc/*.cpp csrc/*.h csrc/cpu/*.cpp csrc/cuda/*.cu csrc/dali/*.cpp)
	$(BIN)/python setup.py develop
	touch $@

# The main job: train on the built-in synthetic dataset (CPU or GPU).
demo: setup
	$(BIN)/torchrun --nproc_per_node=1 scripts/train.py --arch resnest14d $(ARGS)

test: setup
	$(BIN)/python -m pytest $(ARGS)

clean:
	rm -rf build vipriors/_C*.so vipriors/.extension-built *.egg-info
