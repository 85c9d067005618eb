# flaskapp: build, test and publish the Debian package.
#   make deb    dist/flaskapp_<version>_<arch>.deb (installs its build dependencies first)
#   make test   the whole suite: unit, package and end-to-end tests on booted hosts
#   make repo   publish dist/*.deb to the signed apt repository in dist/repo/
#   make bench  benchmarks, written to docs/benchmarks.md
# Run as root on Debian 12.

SHELL := /bin/bash
export DEBIAN_FRONTEND := noninteractive

BUILD := build/source
VENV := .venv
PYTEST := $(VENV)/bin/pytest
# Recursive (=) so that dpkg-dev is only needed once `make deb` has installed it.
DEB = dist/flaskapp_$(shell dpkg-parsechangelog -S Version)_$(shell dpkg --print-architecture).deb
# What the tests need from Debian, beside the build dependencies.
TEST_DEPENDS := aptly dpkg-dev gnupg iproute2 lintian mmdebstrap nftables nginx-core piuparts python3-venv systemd-container wrk

.PHONY: deb build-deps test test-fast test-deps repo bench clean

deb: build-deps
	rm -rf build && mkdir -p $(BUILD) dist
	# Build from a copy, so the tree stays clean and dpkg-buildpackage writes into build/.
	tar --exclude=./build --exclude=./dist --exclude=./.venv --exclude=./.git -cf - . \
		| tar -C $(BUILD) -xf -
	cd $(BUILD) && dpkg-buildpackage --build=binary --no-sign
	mv build/flaskapp_*.deb dist/
	@echo "built $(DEB)"

build-deps:
	dpkg-checkbuilddeps 2>/dev/null || { apt-get update -q && apt-get build-dep -y -q ./; }

test-deps:
	dpkg -s $(TEST_DEPENDS) >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q $(TEST_DEPENDS); }
	test -x $(PYTEST) || /usr/bin/python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt -e .

LINTED := src tests benchmarks packaging/config packaging/site packaging/platform

test: deb test-deps
	$(VENV)/bin/ruff check $(LINTED)
	$(PYTEST) -v --deb=$(DEB) tests

# Unit and package tests only (no booted hosts).
test-fast: deb test-deps
	$(VENV)/bin/ruff check $(LINTED)
	$(PYTEST) -v --deb=$(DEB) -m "not e2e" tests

# Boots a host, measures, writes docs/benchmarks.md (about 6½ minutes; not part of make test).
bench: deb test-deps
	$(VENV)/bin/python -m benchmarks.run --deb=$(DEB)

repo:
	dpkg -s aptly gnupg >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q aptly gnupg; }
	packaging/apt/publish-repo dist

clean:
	rm -rf build dist $(VENV) src/flaskapp.egg-info
