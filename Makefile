# Every target does its own set-up from a fresh clone: the venv, the Python packages, and the
# Debian tools the tests drive (sipp, baresip, espeak-ng, sox, kamailio).
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed
APT_TOOLS := sipp:sip-tester baresip:baresip espeak-ng:espeak-ng sox:sox kamailio:kamailio rtpengine:rtpengine

.PHONY: run test check bench lint typecheck apt-tools clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,bench]'
	touch $(STAMP)

# Installs a Debian package only when its command is missing, so a prepared machine does
# no network work at all.
apt-tools:
	@missing=""; for pair in $(APT_TOOLS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: $(STAMP)
	.venv/bin/softswitch run --config config.example.yaml

check: $(STAMP)
	.venv/bin/softswitch check --config config.example.yaml

test: $(STAMP) apt-tools
	.venv/bin/ruff check softswitch acd media tests benchmarks
	.venv/bin/mypy
	.venv/bin/softswitch check --config config.example.yaml
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP) apt-tools
	$(PY) -m benchmarks.acd
	$(PY) -m benchmarks.media
	$(PY) -m benchmarks.sip_load
	$(PY) -m benchmarks.soak

lint: $(STAMP)
	.venv/bin/ruff check softswitch acd media tests benchmarks

typecheck: $(STAMP)
	.venv/bin/mypy

clean:
	rm -rf .venv
