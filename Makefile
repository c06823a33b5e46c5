# hubd: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
CONFIG ?= config/hub.example.toml
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: setup run test bench build check clean

setup:
	@scripts/setup

build: setup
	$(CARGO) build --release --bin hubd

# Setup, release build, then the daemon on the embedded default home
# (embedded MQTT broker + demo-home simulator + dashboard on 127.0.0.1:8080).
run: build
	./target/release/hubd run --config $(CONFIG) --demo

# Setup, then every test: unit tests of each crate, then end-to-end tests
# (real mosquitto, real SQLite, real weights, headless Chromium).
test: setup
	scripts/test

# Benchmarks: prints the table in README.md (release build, peers in the same run).
bench: setup
	scripts/bench

check:
	$(CARGO) check --workspace --all-targets

clean:
	$(CARGO) clean
