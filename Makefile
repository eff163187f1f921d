# Two entry points: `make demo` and `make test` (README.md). Each sets up
# what it needs: the controller virtualenv, the Docker daemon, base images.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

# Root needs no sudo (CI runs as root); anyone else escalates for apt.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help venv testbed demo demo-down test lint unit molecule bench lock docs

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/controller.txt app/requirements/py3.11.txt app/pyproject.toml
	python3 -c 'import ensurepip' 2>/dev/null || $(SUDO) apt-get install -y python3-venv
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/controller.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r app/requirements/py3.11.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e ./app
	ansible-galaxy collection install -r requirements.yml
	touch $@

venv: $(VENV)/.installed ## Controller tooling in .venv (pinned)

testbed: venv ## Docker daemon and the systemd base image
	ansible-playbook playbooks/testbed.yml

demo: testbed ## Provision the demo VM with site.yml; serve on loopback
	ansible-playbook playbooks/demo_vm.yml
	ansible-playbook site.yml -i inventories/local
	ansible-playbook playbooks/status.yml -i inventories/local
	ansible-playbook playbooks/demo_report.yml

demo-down: venv ## Remove the demo VM
	ansible-playbook playbooks/demo_vm.yml -e demo_vm_state=absent

lint: venv ## yamllint, ansible-lint (production profile), ruff
	yamllint --strict .
	ansible-lint
	ruff check .
	ruff format --check .

unit: venv ## Controller-side tests (tests/) and the apps' unit tests (sample, guestbook fixture)
	pytest -q tests
	cd app && pytest -q
	cd molecule/default/fixtures/guestbook && PYTHONPATH=src:../tinyslug/src pytest -q -p no:cacheprovider

# The fleet scenario's second app host runs Debian 13.
molecule: export KIT_RELEASES := bookworm,trixie
molecule: testbed ## molecule test: the default scenario (one host), then the fleet (a balancer, two app hosts)
	molecule test
	molecule test -s fleet

test: lint unit molecule ## Everything that proves the kit

$(VENV)/.bench: $(VENV)/.installed requirements/bench.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/bench.txt
	touch $@

# Recreates the demo VM (the first converge is measured on a blank one) and
# leaves it serving the demo inventory's configuration.
bench: testbed $(VENV)/.bench ## The benchmark report on a new demo VM (benchmarks/results/<date>/: sections 1 to 6, the tuner, plots)
	python -u benchmarks/report.py --out benchmarks/results/$$(date -u +%F)

docs: venv ## Render each role README's variables table from its argument spec
	python tests/role_docs.py

lock: venv ## Re-lock the controller tooling and the apps of the demo and the tests (playbooks/lock.yml)
	uv pip compile --quiet --no-header --python-version 3.11 requirements/controller.in -o requirements/controller.txt
	ansible-playbook playbooks/lock.yml -i inventories/local -e '{"flask_app_lock_variants": ["gevent"], "flask_app_lock_force": true}'
	MOLECULE_PROJECT_DIRECTORY=$(CURDIR) ansible-playbook playbooks/lock.yml -i molecule/default/inventory -e flask_app_lock_force=true
