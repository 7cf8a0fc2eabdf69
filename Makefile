# The verbs of the project. Everything a fresh machine needs is installed by these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := bash deploy/uv.sh

.PHONY: help install services services-stop up down run test check lint typecheck unit format bench logs browser-deps bench-crawl bench-api bench-scale bench-render bench-scaleout check-manifests soak

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

install: ## Install uv (if missing) and the Python workspace from the lock file
	@bash deploy/install.sh

services: ## Install (if missing) and start RabbitMQ and FerretDB; print their URLs
	@bash deploy/services.sh start

services-stop: ## Stop RabbitMQ and FerretDB
	@bash deploy/services.sh stop

up: install services browser-deps ## Start the API, crawler, renderer and status service in the background
	@bash deploy/stack.sh up

down: ## Stop the API, crawler, renderer and status service
	@bash deploy/stack.sh down

logs: ## Tail the stack's logs
	@tail -n 50 -F .local/logs/api.log .local/logs/crawler.log .local/logs/renderer.log .local/logs/status.log

run: up ## Crawl the sample site through the running stack and show its progress
	@$(UV) run --frozen python deploy/demo.py

lint: install ## ruff (lint + format check)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: install ## mypy --strict
	$(UV) run --frozen mypy

check: lint typecheck ## Static checks

check-manifests: ## Build the Kubernetes overlays and check them offline (deploy/k8s/README.md)
	cd deploy/k8s/validate && go run . -external ../base/secret.example.yaml ../overlays/dev ../overlays/production

unit: install ## Unit tests only (no services needed)
	$(UV) run --frozen pytest -m "not integration and not e2e"

browser-deps: ## Install Debian's chromium (if missing): the renderer's browser, and the dashboard's browser test
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: install services browser-deps ## Static checks, then unit, integration and e2e tests against real services
	@eval "$$(bash deploy/services.sh env)"; export RABBITMQ_URL MONGODB_URL RABBITMQ_MANAGEMENT_URL; \
	$(UV) run --frozen ruff check . && \
	$(UV) run --frozen ruff format --check . && \
	$(UV) run --frozen mypy && \
	$(UV) run --frozen pytest

format: install ## Apply ruff's formatting and fixes
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench-crawl: install services ## Crawl python3.11-doc and apache2-doc on loopback with our stack and with Scrapy; compare pages/s
	@eval "$$(bash deploy/services.sh env)"; export RABBITMQ_URL MONGODB_URL RABBITMQ_MANAGEMENT_URL; \
	bash bench/crawl/run.sh $(BENCH_ARGS)

bench-api: install services ## API and job overhead vs Scrapyd, Celery and bare Litestar (bench/results/api.json)
	@eval "$$(bash deploy/services.sh env)"; export RABBITMQ_URL MONGODB_URL RABBITMQ_MANAGEMENT_URL; \
	$(UV) sync --frozen --group bench --inexact && \
	$(UV) run --frozen --group bench python -m bench.api.run

bench-scale: install services ## Reads against 1M page records; a 200,000-page crawl, and one killed part-way (bench/results/scale.json)
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx >/dev/null; }
	@eval "$$(bash deploy/services.sh env)"; export RABBITMQ_URL MONGODB_URL RABBITMQ_MANAGEMENT_URL; \
	$(UV) sync --frozen --group bench --inexact && \
	$(UV) run --frozen --group bench python -m bench.scale.run $(BENCH_ARGS)

bench-render: install services browser-deps ## Rendered pages/s on a local JavaScript site, ours against Crawl4AI on the same Chromium (bench/results/render.json)
	@eval "$$(bash deploy/services.sh env)"; export RABBITMQ_URL MONGODB_URL RABBITMQ_MANAGEMENT_URL; \
	bash bench/render/run.sh $(BENCH_ARGS)

bench-scaleout: install services ## One crawl of python3.11-doc on one crawler pinned to a core, then on two (bench/results/scaleout.json)
	@eval "$$(bash deploy/services.sh env)"; export RABBITMQ_URL MONGODB_URL RABBITMQ_MANAGEMENT_URL; \
	bash bench/scaleout/run.sh $(BENCH_ARGS)

soak: install services ## Many processes and faults for a while: 3 crawlers, 2 status, 2 APIs, 200 jobs, kills and restarts (bench/results/soak.json)
	@eval "$$(bash deploy/services.sh env)"; export RABBITMQ_URL MONGODB_URL RABBITMQ_MANAGEMENT_URL; \
	SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { $$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx >/dev/null; }; \
	$(UV) sync --frozen --group bench --inexact && \
	$(UV) run --frozen --group bench python -m bench.soak.run $(SOAK_ARGS)

bench: bench-crawl bench-api bench-scale bench-render bench-scaleout ## Every benchmark
