# Two commands do all set-up on a fresh machine: `make book` renders the book, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test book execute status bench mutants clean

setup: $(STAMP)

# Idempotent: reinstalls only when the pins or the project metadata change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	# Kernels of this environment (Quarto's and the offline path's) log errors only: ipykernel 7
	# warns about its local TCP transport on every start, which is chatter, not a problem here.
	mkdir -p $(VENV)/etc/ipython
	echo "c.IPKernelApp.log_level = 'ERROR'" > $(VENV)/etc/ipython/ipython_kernel_config.py
	touch $(STAMP)

# Unit tests, then every chapter executed in the smoke profile against a throwaway cache.
# Arguments for pytest: make test ARGS="-k stats -x"
test: setup
	$(PY) -m pytest $(ARGS)

# Computes what the cache lacks (with progress), then renders: Quarto when it is installed,
# else the offline path (RENDER=offline forces it).
book: setup
	$(PY) -m svhn_debug run-all
	@if [ "$(RENDER)" != "offline" ] && command -v quarto >/dev/null 2>&1; then \
		PATH="$(abspath $(VENV))/bin:$$PATH" QUARTO_PYTHON="$(abspath $(PY))" quarto render; \
	else \
		$(PY) -m svhn_debug.book; \
	fi

# Mutation testing, not part of CI (hours for every module): which mutants of these modules does no
# test kill? make mutants MUTANTS="svhn_debug.stats*" narrows the mutants, MUTANT_TESTS="tests/test_stats.py"
# the tests mutmut runs (its coverage pass, timing pass and every mutant; default: all but the slow
# chapter, corpus and process tests, which alone take most of an hour). It runs on the last commit,
# in a scratch worktree where code/ is src/ (the layouts mutmut knows); only the modules of MUTANTS are
# mutated (mutating all 33 modules took 15 minutes before the first test).
# MUTANT_SAMPLE=30 tests a random sample of 30 mutants of each module instead of all of them (drawn
# with MUTANT_SEED before any runs; bench/mutation_sample.py), then prints the sample's score with its
# 95% interval: about an hour here for 30 mutants each of runner and cache, against many hours for all.
MUTANTS ?= svhn_debug.stats* svhn_debug.precision* svhn_debug.plateau* svhn_debug.cache* \
           svhn_debug.runner* svhn_debug.training* svhn_debug.data* svhn_debug.datagen* svhn_debug.checks*
MUTANT_SEED ?= 20261203
MUTANT_TESTS ?= $(filter-out tests/test_book.py tests/test_corpus.py tests/test_processes.py,$(wildcard tests/test_*.py))
mutants: setup
	rm -rf .mutants-work && git worktree prune && git worktree add -f .mutants-work HEAD
	cd .mutants-work && git mv code src && $(abspath $(PY)) -c "import sys; \
		sel = ', '.join(repr(t) for t in sys.argv[1:]); \
		only = ', '.join(repr('src/' + m.replace('.', '/')) for m in '$(MUTANTS)'.split()); \
		open('pyproject.toml', 'a').write(f'pytest_add_cli_args_test_selection = [{sel}]\nonly_mutate = [{only}]\n')" $(MUTANT_TESTS)
ifeq ($(MUTANT_SAMPLE),)
	cd .mutants-work && SVHN_DEBUG_SKIP_BOOK=1 ../$(VENV)/bin/mutmut run $(MUTANTS) || true
	cd .mutants-work && ../$(VENV)/bin/mutmut results
else
	@# mutmut generates mutants only inside "run": a name that matches none makes them (and its
	@# coverage and timing passes), then stops with "nothing matches", which is expected here.
	cd .mutants-work && SVHN_DEBUG_SKIP_BOOK=1 ../$(VENV)/bin/mutmut run svhn_debug.no_such_mutant >/dev/null 2>&1 || true
	cd .mutants-work && $(abspath $(PY)) bench/mutation_sample.py draw --per-module $(MUTANT_SAMPLE) \
		--seed $(MUTANT_SEED) $(MUTANTS) > sample.txt
	cd .mutants-work && SVHN_DEBUG_SKIP_BOOK=1 ../$(VENV)/bin/mutmut run $$(cat sample.txt) || true
	cd .mutants-work && $(abspath $(PY)) bench/mutation_sample.py score --names sample.txt
endif

status: setup
	$(PY) -m svhn_debug status

bench: setup
	$(PY) bench/loop_speed.py

clean:
	rm -rf _book .jupyter_cache .pytest_cache
