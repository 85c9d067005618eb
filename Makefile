# flaskapp: build, test and publish the Debian package.
#   make deb    dist/flaskapp_<version>~deb<N>_<arch>.deb for this machine's Debian release
#               (installs its build dependencies first); make deb SUITE=trixie builds for
#               another release in a clean chroot, into dist/trixie/
#   make lock   locks/<release>.txt: the platform's and the app's requirements resolved for each
#               release's Python, every dependency pinned with its hashes (RELEASES="bookworm"
#               locks only those; `make hashes` is its old name)
#   make wheels the wheelhouse the builds install from, offline (make deb runs it)
#   make audit  the locks against a vulnerability service (OSV_URL=, README "Supply chain")
#   make test   the whole suite: unit, package and end-to-end tests on booted hosts
#   make repo   publish the builds in dist/ to the signed apt repository in dist/repo/,
#               each in its release's suite
#   make cloud-init  dist/cloud-init.yaml: user data that makes a bare cloud VM a server of
#               the published repository at its first boot (README, "On a cloud VM")
#   make bench  benchmarks, written to docs/benchmarks.md
# Run as root on Debian 12.

SHELL := /bin/bash
export DEBIAN_FRONTEND := noninteractive

BUILD := build/source
VENV := .venv
PYTEST := $(VENV)/bin/pytest
NATIVE_SUITE := $(shell . /etc/os-release && echo $$VERSION_CODENAME)
SUITE ?= $(NATIVE_SUITE)
# This machine's release builds into dist/, so `apt install ./dist/flaskapp_*.deb` takes one
# that runs here; other releases' into dist/<suite>/.
DIST = $(dir $(DEB))
# The .deb for a suite. Recursive (=) so that dpkg-dev is only needed once `make deb` has
# installed it.
deb_for = dist$(if $(filter $(NATIVE_SUITE),$(1)),,/$(1))/flaskapp_$(shell dpkg-parsechangelog -S Version)$(shell packaging/release suffix $(1))_$(shell dpkg --print-architecture).deb
DEB = $(call deb_for,$(SUITE))
# The other release the tests run hosts of (bookworm's and trixie's builds both tested).
OTHER_SUITE := $(firstword $(filter-out $(NATIVE_SUITE),$(shell packaging/release suites)))
# What the tests need from Debian, beside the build dependencies.
TEST_DEPENDS := ansible aptly curl diffoscope-minimal dpkg-dev gnupg iproute2 lintian mmdebstrap nftables nginx-core openssh-client pebble piuparts python3-venv systemd-container testssl.sh wrk

.PHONY: deb build-deps wheels lock hashes audit test test-fast test-deps repo cloud-init bench clean

ifeq ($(SUITE),$(NATIVE_SUITE))
deb: build-deps wheels
	rm -rf build && mkdir -p $(BUILD) dist
	# Build from a copy, so the tree stays clean and dpkg-buildpackage writes into build/;
	# its files dated as the changelog entry, not as a checkout: two clones build the same bytes.
	tar --exclude=./build --exclude=./dist --exclude=./.venv --exclude=./.git \
		--mtime=@$$(dpkg-parsechangelog -S Timestamp) -cf - . | tar -C $(BUILD) -xf -
	cd $(BUILD) && dpkg-buildpackage --build=binary --no-sign
	mv build/flaskapp_*.deb dist/
	@echo "built $(DEB)"
else
deb: build-deps wheels
	command -v mmdebstrap >/dev/null || { apt-get update -q && apt-get install -y -q mmdebstrap; }
	packaging/build-in-chroot $(SUITE) $(DIST)
	@echo "built $(DEB)"
endif

build-deps:
	dpkg-checkbuilddeps 2>/dev/null || { apt-get update -q && apt-get build-dep -y -q ./; }

# The files of every lock for its release's Python, hash-checked; fetched again only when a
# lock changes. Then this release's sdists built into wheels, once. The build itself needs no
# network.
wheels: wheels/SHA256SUMS
	packaging/wheels build wheels
wheels/SHA256SUMS: $(wildcard locks/*.txt) packaging/release
	packaging/wheels fetch wheels

# Which releases: RELEASES="bookworm trixie"; by default those locked already. UV= another uv
# (the tests give theirs to the copies of the tree they build).
UV ?= $(VENV)/bin/uv
export UV
lock: build-deps $(UV)
	packaging/wheels lock $(RELEASES)
hashes: lock

$(VENV)/bin/uv $(VENV)/bin/pip-audit: requirements-dev.txt
	test -x $(VENV)/bin/pip || /usr/bin/python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $(VENV)/bin/uv $(VENV)/bin/pip-audit

# pip-audit's own check of every release's lock, exactly as locked (no resolving: --disable-pip),
# failing when a package could not be audited (--strict). The service: OSV's API, or a mirror
# of it (README, "Supply chain").
OSV_URL ?= https://api.osv.dev/v1/query
audit: $(VENV)/bin/pip-audit
	@status=0; for lock in $(filter-out %-build.txt,$(wildcard locks/*.txt)); do \
		echo "make audit: $$lock against $(OSV_URL)"; \
		$(VENV)/bin/pip-audit --strict --disable-pip --progress-spinner=off \
			--vulnerability-service=osv --osv-url=$(OSV_URL) --requirement=$$lock \
		|| { status=1; echo "make audit: $$lock FAILED: a known vulnerability (above), or the service at" \
			"$(OSV_URL) could not answer for every package (pip-audit --strict)" >&2; }; \
	done; exit $$status

test-deps:
	dpkg -s $(TEST_DEPENDS) >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q $(TEST_DEPENDS); }
	test -x $(PYTEST) || /usr/bin/python3 -m venv $(VENV)
	# The platform's lock hash-checked, as in the .deb; then the tools.
	$(VENV)/bin/pip install -q -r locks/$(NATIVE_SUITE).txt
	$(VENV)/bin/pip install -q -r requirements-dev.txt

# The slot is linted while it holds the hello world, ours; an app put there is its authors', held
# to their own style, not to this tree's.
LINTED := $(wildcard src/flaskapp) tests benchmarks packaging/config packaging/site packaging/platform packaging/build-app packaging/wheels packaging/sbom \
	packaging/cloud-init/user-data

test: deb test-deps
	$(VENV)/bin/ruff check $(LINTED)
	# Two at a time: the hosts mostly wait (apt, boots, reboots), so two cores serve two. A module
	# stays on one worker (its shared host), the longest first; packages the tests build (the
	# other release's too) are built once per run, by a worker, while the other goes on.
	$(PYTEST) -v -n 2 --dist loadscope --no-loadscope-reorder --durations=40 --deb=$(DEB) \
		--other-suite=$(OTHER_SUITE) tests

# Unit tests and the checks of the built .deb: no booted hosts, no second build.
test-fast: deb test-deps
	$(VENV)/bin/ruff check $(LINTED)
	$(PYTEST) -v --deb=$(DEB) -m "not e2e and not rebuild" tests

# Boots hosts and a fleet, measures, writes docs/benchmarks.md and docs/restarts.png (about 20
# minutes; not part of make test).
bench: deb test-deps
	dpkg -s gnuplot-nox >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q gnuplot-nox; }
	$(VENV)/bin/python -m benchmarks.run --deb=$(DEB)

repo:
	dpkg -s aptly gnupg >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q aptly gnupg; }
	packaging/apt/publish-repo dist

# Settings: FLASKAPP_CLOUD_SUITE, _SITE, _ENV, _SECRET_KEY (packaging/cloud-init/user-data).
cloud-init:
	dpkg -s gnupg >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q gnupg; }
	packaging/cloud-init/user-data dist

# Not the repository's state (published history, signing key): see packaging/apt/publish-repo.
clean:
	rm -rf build dist wheels $(VENV) src/*.egg-info
