# veil — two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLWR_TELEMETRY_ENABLED := 0
export FLWR_DISABLE_UPDATE_CHECK := 1
export HF_HUB_OFFLINE := 1
export DO_NOT_TRACK := 1

.PHONY: setup psi-venv demo test bench lint fuzz clean
PSI_VENV := .venv-psi

# PostgreSQL server binaries for the Aggregator-state tests (Debian's package; CI runs as root)
setup: $(STAMP)
	$(BIN)/python -m veil.vdaf.aot  # field kernels compiled ahead of time (no-op when current)
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

# Idempotent: re-runs only when pyproject.toml changes. torch is pinned first so no CUDA build is pulled.
# .[all,dev]: every extra (the Aggregators, federated learning, Keras); a device needs only `pip install veil`.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/veil demo seal --out runs/demo-seal
	$(BIN)/veil demo finance --out runs/demo --secure --record-dp --malicious 2

# SecretFlow's spu (PSI RR22) pins numpy<2: it gets a virtualenv of its own (docs/vertical.md)
psi-venv:
	PY=$(PY) scripts/psi-venv.sh $(PSI_VENV)

# two pytest workers (pytest-xdist): most slow tests wait on processes they started, so two
# at a time halve the suite on 2 cores (≈ 10 min instead of ≈ 17); TEST_WORKERS=0 runs in one
TEST_WORKERS ?= 2
test: setup psi-venv
	$(BIN)/python -m pip install -q -e '.[fl-sim]'  # Ray: the Flower simulation-engine tests run, not skip
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

# age is the baseline of the sealing benchmark (Debian package); gpg ships with the base image
bench: setup psi-venv
	$(BIN)/python -m pip install -q -e '.[fl-sim]'  # Flower's simulation runtime (Ray) for the Flower rows
	command -v age >/dev/null || (apt-get update -qq && apt-get install -y -qq age) || echo "age unavailable: its rows are skipped"
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/ruff format --check src tests bench fuzz

# each target runs for at most FUZZ_SECONDS (libFuzzer -max_total_time), one after another,
# at low priority; results in runs/fuzz/results.json. E.g. make fuzz FUZZ_SECONDS=600
FUZZ_SECONDS ?= 60
fuzz: setup
	nice -n 19 $(BIN)/python -m fuzz --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) $(PSI_VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
