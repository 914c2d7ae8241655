# dlfs-lab — every target creates what it needs (.venv, packages, MNIST) on first use and reuses it afterwards.
#   make lab       start JupyterLab on notebooks/00_start_here.ipynb, with the settings of jupyter/overrides.json
#   make lab-zh    the Chinese edition: JupyterLab in Chinese on notebooks/zh/ (中文版)
#   make zh-sync   copy code cells and outputs from notebooks/ into their Chinese twins in notebooks/zh/
#   make test      unit tests + every notebook under nbval (quick mode), then make test-ui; the CI command
#   make test-ui   browser tests: JupyterLab in the system Chromium (Playwright), sliders, make lab itself
#   make data      fetch and verify MNIST into the local cache
#   make execute   re-run every notebook in place with full budgets (refreshes the committed outputs)
#   make bench     time common vs PyTorch CPU vs the textbook baseline (writes benchmarks/results.json)
#   make weights   retrain the committed weights under weights/ (scripts/train_*.py)
#   make clean     remove .venv, caches and the MNIST cache
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
JOBS   ?= 2
# Tests run JOBS pytest workers side by side: one BLAS thread each, so 2 workers x 2 threads never fight
# over 2 cores (oversubscribed OpenBLAS threads can stall a small matrix product for seconds).
TEST_ENV := DLFS_QUICK=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
START_PAGE := notebooks/00_start_here.ipynb
NOTEBOOKS := $(START_PAGE) $(sort $(wildcard notebooks/ch*.ipynb))

.PHONY: lab test test-unit test-notebooks test-ui data execute weights bench clean venv lab-zh zh-sync

venv: $(STAMP) $(LAB_OVERRIDES)

# The venv is (re)built only when it is missing or pyproject.toml changed.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[cluster]"
	@touch $(STAMP)

# JupyterLab settings for this project (no news pop-up, widget state kept on save, wider name column in the
# file browser): jupyter/overrides.json, copied into the venv (never into ~/.jupyter) whenever it changes.
$(LAB_OVERRIDES): jupyter/overrides.json $(STAMP)
	@mkdir -p $(@D)
	cp jupyter/overrides.json $@

data: $(STAMP) $(LAB_OVERRIDES)
	$(PY) -m dataset.mnist

# Jupyter refuses to run as root unless told; containers and CI often are root.
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: data
	$(PY) -m jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/$(START_PAGE) $(LAB_FLAGS)

# The Chinese edition with JupyterLab's menus in Chinese (language pack jupyterlab-language-pack-zh-CN). The
# locale is set in a user-settings folder of the project's own, so the reader's global settings stay as they are.
ZH_SETTINGS ?= $(VENV)/share/jupyter/lab/user-settings-zh
ZH_START := $(if $(wildcard notebooks/zh/00_start_here.ipynb),notebooks/zh/00_start_here.ipynb,notebooks/zh)

lab-zh: data
	@mkdir -p "$(ZH_SETTINGS)/@jupyterlab/translation-extension"
	@echo '{"locale": "zh_CN"}' > "$(ZH_SETTINGS)/@jupyterlab/translation-extension/plugin.jupyterlab-settings"
	$(PY) -m jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/$(ZH_START) \
	    --LabApp.user_settings_dir="$(abspath $(ZH_SETTINGS))" $(LAB_FLAGS)

# Code cells and their outputs come from the English notebooks; the Chinese Markdown is kept. What is left to
# translate (or translated from an older English text): $(PY) scripts/zh_sync.py --check
zh-sync: $(STAMP)
	$(PY) scripts/zh_sync.py

test: data
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) --dist loadscope -m "not ui" \
	    --nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg \
	    tests $(NOTEBOOKS)
	$(MAKE) --no-print-directory test-ui

# One process: the browser tests share one JupyterLab server and one Chromium (they skip without Chromium).
test-ui: data
	$(TEST_ENV) $(PY) -m pytest -m ui tests/ui

test-unit: data
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) -m "not ui" tests

test-notebooks: data
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) --dist loadscope \
	    --nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg $(NOTEBOOKS)

# Full budgets (DLFS_QUICK unset): this is what the committed outputs show. One BLAS thread, as in the
# tests, so the printed timings are stable on a busy 2-core machine.
execute: data
	cd notebooks && for nb in $(notdir $(NOTEBOOKS)); do \
	    echo "== $$nb"; \
	    env -u DLFS_QUICK OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ../$(PY) -m jupyter nbconvert --to notebook --execute --inplace \
	        --ExecutePreprocessor.timeout=1800 "$$nb" || exit 1; \
	done

# Speed table: common vs PyTorch CPU (if installed: pip install -e .[bench]) vs the textbook baseline.
# Some machines here set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (a work-around for old OpenBLAS builds) that
# force slower kernels; a reader's laptop has neither, so the benchmark runs without them.
bench: $(STAMP)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/run.py

# Every scripts/train_*.py trains one set of weights into weights/ (resumable, logged); slow ones may take hours.
weights: data
	for s in $(sort $(wildcard scripts/train_*.py)); do echo "== $$s"; $(PY) $$s || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info test-artifacts
	rm -f dataset/*.npz dataset/*.part dataset/*.lock
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
