# pifleet — run `make help` for the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV    ?= .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)
export MOLECULE_GLOB := molecule/*/molecule.yml

PLAYBOOKS := $(wildcard playbooks/*.yml)
SCENARIOS ?= default scale platform fleet
# make test: the container tier's default scenario in the foreground, and beside it, each in a lane of its own,
# the ARM64 VM fleet (site.yml converged and verified under TCG, from the start) and scale (the rollout on 8
# hosts, from when the unit tests have passed: their live tests are timed by real processes, and 3 workers of
# them beside the VMs are load enough). Each lane waits as much as it computes (the VMs on emulated CPUs,
# reboots and health probes; scale on its health gates and one Ansible controller's core): side by side they
# fill the 2 cores that one at a time left half idle. platform, the VM tier's self-test, proves a subset of
# what fleet proves on the same VMs: make molecule runs it.
TEST_SCENARIOS ?= default
BESIDE_SCENARIOS ?= scale
# make unit's pytest workers: its live tests wait on real processes and the exchange's clock more than they
# compute, so more workers than cores (pytest-xdist; -v: the files in its progress lines, which test-times reads).
UNIT_WORKERS ?= 3
DEMO_INVENTORY := .cache/demo/hosts.yml
# make status: the demo fleet when it runs, else the example inventory (INVENTORY=your-inventory/ for yours).
INVENTORY ?= $(if $(wildcard $(DEMO_INVENTORY)),$(DEMO_INVENTORY),inventory/)

ARCH    ?= amd64 arm64

.PHONY: help setup lint unit image image-test lock molecule test demo demo-destroy status bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q -e tools/exchange
	touch $@

setup: $(STAMP) ## Install system packages, the venv with dev tooling, start dockerd, enable arm64 binfmt
	tools/host/host-setup.sh

lint: $(STAMP) ## ruff, mypy --strict, the bot's import layers, yamllint, ansible-lint (production), playbooks' syntax
	$(BIN)/ruff check bot molecule tools playbooks
	$(BIN)/ruff format --check bot molecule tools playbooks
	$(BIN)/mypy bot/gridbot tools/exchange/gridbot_exchange
	PYTHONPATH=bot:tools/exchange $(BIN)/lint-imports --no-cache
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint -q
	for p in $(PLAYBOOKS); do $(BIN)/ansible-playbook --syntax-check "$$p" >/dev/null || exit 1; echo "syntax ok: $$p"; done

unit: $(STAMP) ## pytest of bot/tests, tools/exchange/tests and tools/tests
	for t in bot/tests tools/exchange/tests tools/tests; do \
	  rc=0; $(BIN)/pytest "$$t" --ignore=bot/tests/image --durations=12 -n $(UNIT_WORKERS) -v || rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "unit: pytest collected no tests in $$t: that is a failure here" >&2; exit 1; fi; \
	  [ $$rc -eq 0 ] || exit $$rc; \
	done

image: setup ## Build the gridbot image and its shipping artifact for each ARCH (default: amd64 arm64)
	for a in $(ARCH); do bot/image/build.sh "$$a" >/dev/null || exit 1; done

lock: $(STAMP) ## Pin the image's Python dependencies with their wheels' hashes (bot/image/requirements.lock)
	$(BIN)/python bot/image/lock.py

# make test builds the images once, before the fleet starts, and passes IMAGES_BUILT=1 to the steps after it.
image-test: $(if $(IMAGES_BUILT),,image) ## Run the built images with the deploy role's hardening flags and check them
	GRIDBOT_IMAGE_ARCHES="$(ARCH)" $(BIN)/pytest bot/tests/image

molecule: setup ## Every Molecule scenario ($(SCENARIOS))
	for s in $(SCENARIOS); do $(BIN)/molecule test -s "$$s" || exit 1; done

GUARD := .cache/host-guard.before
# Each step of make test runs as a phase of $(TIMES) run, which passes its output and exit status on as they are
# and records its time (Molecule's steps and pytest's runs within it too); $(TIMES) report writes where the
# minutes went and fails a phase over twice its median in .ci/test-times-median.json (docs/testing.md). -S: no
# site-packages at its start, where a Ctrl-C would end it with 1 rather than by the signal, as its command would.
TIMES := python3 -S tools/host/test-times.py

test: ## THE test command: setup + unit + lint + image-test + molecule default (fleet and scale beside it), and proof the host was left alone
	$(TIMES) begin
	$(TIMES) run host-setup -- tools/host/host-setup.sh
	mkdir -p .cache
	tools/host/host-guard.sh snapshot $(GUARD)
	# A head start for a fresh machine: the VM images (debootstrap under qemu-user, mostly one core each) need
	# only the host's packages, so they build while the venv is made and the bot images are built; cached images
	# return at once. The fleet scenario then runs beside unit, lint, image-test and the container tier, and from
	# when unit has passed, scale too (unit first: the scale lane ends last, on a machine it leaves half idle, and
	# lint's minutes before unit were minutes of its start). Their logs are printed when they end, 240 columns
	# wide so that each failure is one line, and their failures again last; a failure in the foreground stops
	# them and removes their hosts, and its failing lines are printed last too, from its log. (-o setup: image's
	# prerequisite has just run.)
	for r in trixie bookworm; do \
	  $(TIMES) run "vm-image $$r" -- tools/vm/vm-image.sh "$$r" provisioned >".cache/vm-image-$$r.log" 2>&1 & done; \
	$(TIMES) run setup -- $(MAKE) --no-print-directory setup; \
	$(TIMES) run image -- $(MAKE) --no-print-directory -o setup image; \
	COLUMNS=240 setsid $(TIMES) run fleet -- $(BIN)/molecule test -s fleet >.cache/test-fleet.log 2>&1 & \
	  lanes="fleet:$$!"; \
	: >.cache/test-foreground.log; rc=0; for t in unit lint image-test molecule; do \
	  $(TIMES) run --group foreground --log .cache/test-foreground.log "$$t" -- \
	    $(MAKE) --no-print-directory "$$t" SCENARIOS="$(TEST_SCENARIOS)" IMAGES_BUILT=1 || { rc=$$?; break; }; \
	  if [ "$$t" = unit ]; then for s in $(BESIDE_SCENARIOS); do \
	    COLUMNS=240 setsid $(TIMES) run "$$s" -- $(BIN)/molecule test -s "$$s" >".cache/test-$$s.log" 2>&1 & \
	    lanes="$$lanes $$s:$$!"; done; fi; done; \
	if [ $$rc -ne 0 ]; then for l in $$lanes; do kill -- -$${l#*:} 2>/dev/null || true; done; fi; \
	failed=""; for l in $$lanes; do s=$${l%%:*}; lrc=0; wait $${l#*:} || lrc=$$?; \
	  echo "== molecule test -s $$s, run beside the foreground: exit $$lrc"; cat ".cache/test-$$s.log"; \
	  if [ $$lrc -ne 0 ]; then failed="$$failed $$s"; \
	    [ $$rc -eq 0 ] || $(BIN)/molecule destroy -s "$$s" >/dev/null 2>&1 || true; fi; done; \
	trc=0; $(TIMES) report || trc=$$?; \
	if [ $$rc -ne 0 ]; then echo "== foreground: what failed"; \
	  sed 's/\x1b\[[0-9;]*m//g' .cache/test-foreground.log \
	  | grep -aE '^(FAILED|ERROR) |^E   |fatal: \[|failed=[1-9]|^make.*Error' | cut -c 1-240 | tail -n 40 || true; fi; \
	for s in $$failed; do echo "== $$s: what failed"; \
	  sed 's/\x1b\[[0-9;]*m//g' ".cache/test-$$s.log" | grep -aE '│ (FAILED|ERROR) [^ ]+\.py::|│ E   |INTERNALERROR|Killed|=+ .*[0-9]+ (failed|passed|errors?)\b|fatal: \[|failed=[1-9]' \
	  | cut -c 1-240 | tail -n 40 || true; \
	  [ "$$s" = fleet ] || continue; \
	  for v in $${PIFLEET_CACHE:-$$HOME/.cache/pifleet}/vm-logs/*.boots.log; do \
	    [ -f "$$v" ] || continue; echo "== $$v (and its last boot's console)"; tail -n 6 "$$v"; \
	    tail -n 12 "$${v%.boots.log}.console.log" 2>/dev/null | cut -c 1-240 || true; done; done; \
	echo "== make test: foreground exit $$rc, beside it failed:$${failed:- none}, test-times exit $$trc"; \
	wait; [ $$rc -eq 0 ] && [ -z "$$failed" ] && [ $$trc -eq 0 ]
	tools/host/host-guard.sh compare $(GUARD)

demo: setup ## Boot a 2-VM ARM64 Pi fleet, converge playbooks/site.yml on it, show the status; leaves it running
	$(MAKE) --no-print-directory image ARCH=arm64
	tools/demo/demo-fleet.sh up

demo-destroy: ## Stop the demo fleet's VMs and remove their disks
	tools/demo/demo-fleet.sh down

status: $(STAMP) ## The fleet's bots and hosts (INVENTORY=...; default: the demo fleet when it runs; FORMAT=json: rows)
	@if [ "$(FORMAT)" = json ]; then \
	  f=$$(mktemp); rc=0; $(BIN)/ansible-playbook -i $(INVENTORY) playbooks/status.yml -e status_json=$$f >&2 || rc=$$?; \
	  [ $$rc -ne 0 ] || cat $$f; rm -f $$f; exit $$rc; \
	else $(BIN)/ansible-playbook -i $(INVENTORY) playbooks/status.yml; fi

bench: setup ## Benchmarks that print figures (backtest, indicators vs TA-Lib, peak RSS, local exchange, controller cost per host)
	$(MAKE) --no-print-directory image ARCH=amd64
	for b in bot/bench/bench_*.py tools/exchange/bench/bench_*.py tools/bench/bench_*.py; do $(PY) "$$b" || exit 1; done
