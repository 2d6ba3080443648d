# randbench: the two commands of the README and their set-up.
#   make run    installs everything, runs the demo comparison sweep and writes its report
#   make test   installs everything and runs the fast test set (end-to-end tests marked slow excluded)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-slow test-all test-slurm slurm-stop benchmark clean chromium render-libs

# torch==2.13.0 first: the CPU build lies on this machine's disk; any other torch request
# would pull several GB of CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/randbench train +sweep=demo
	$(BIN)/randbench report results/runs/demo

# The report test opens report.html in headless Chromium (Debian's package).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-liberation; }

# randbench video renders MuJoCo off-screen: EGL with Mesa's software renderer, OSMesa as the
# fallback (--gl osmesa). Box2D tasks need nothing more than pygame, which pip installs.
render-libs:
	@ldconfig -p | grep -q libEGL_mesa.so.0 && ldconfig -p | grep -q libOpenGL.so.0 && ldconfig -p | grep -q libOSMesa.so \
		|| { apt-get update -qq && apt-get install -y -qq --no-install-recommends libegl1 libegl-mesa0 libopengl0 libgl1-mesa-dri libosmesa6; }

# The fast set: unit and small integration tests. The end-to-end ones (real training runs,
# subprocesses of the CLI, the regression suite's own runs) are marked slow and run in CI.
test: install chromium render-libs
	$(BIN)/python -m pytest -n 2 -m "not slow and not slurm" --durations=10

test-slow: install chromium render-libs
	$(BIN)/python -m pytest -n 2 -m "slow and not slurm" --durations=15

test-all: test test-slow test-slurm

# Sweeps on a real Slurm cluster: a one-node cluster with accounting on this machine, as root
# (scripts/local_slurm.sh installs Slurm, munge and MariaDB when missing, and starts them).
test-slurm: install
	$(BIN)/python -m pytest -m slurm --durations=5

slurm-stop:
	scripts/local_slurm.sh stop

benchmark: install
	$(BIN)/python -m benchmarks.overhead

clean:
	rm -rf $(VENV) results/runs results/benchmarks
