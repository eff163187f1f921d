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

.PHONY: help venv testbed demo demo-down test lint unit molecule bench lock

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
	ansible-playbook playbooks/demo_report.yml

demo-down: venv ## Remove the demo VM
	ansible-playbook playbooks/demo_vm.yml -e demo_vm_state=absent

lint: venv ## yamllint, ansible-lint (production profile), ruff
	yamllint --strict .
	ansible-lint
	ruff check .
	ruff format --check .

unit: venv ## Controller-side tests (tests/) and the sample app's unit tests
	pytest -q tests
	cd app && pytest -q

molecule: testbed ## molecule test (default scenario)
	molecule test

test: lint unit molecule ## Everything that proves the kit

bench: demo ## Slowloris on Gunicorn directly vs through Nginx (demo VM); prints figures
	python benchmarks/slowloris.py

lock: venv ## Re-lock the controller tooling and the app's runtime set
	uv pip compile --quiet --no-header --python-version 3.11 requirements/controller.in -o requirements/controller.txt
	for v in 3.11 3.13; do \
	  uv pip compile --quiet --no-header --generate-hashes --extra server --python-version $$v \
	    app/pyproject.toml -o app/requirements/py$$v.txt; \
	  uv pip compile --quiet --no-header --generate-hashes --extra server --extra gevent --python-version $$v \
	    app/pyproject.toml -o app/requirements/py$$v-gevent.txt; \
	done
