# Every target does its own set-up from a fresh clone: the venv, the Python packages, the
# Debian tools the tests drive (sipp, baresip, linphone-cli, espeak-ng, sox, kamailio, and
# PostgreSQL, which the storage and report tests start as a throw-away server) and
# the Debian sound packages the English prompts and the music on hold come from
# (prompts/README.md).
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed
APT_TOOLS := sipp:sip-tester baresip:baresip linphonec:linphone-cli espeak-ng:espeak-ng sox:sox kamailio:kamailio rtpengine:rtpengine \
             /usr/lib/postgresql:postgresql chromium:chromium \
             /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc:fonts-wqy-zenhei
# file:package -- a package is installed when its file is missing
APT_SOUNDS := /usr/share/asterisk/sounds/en_US_f_Allison/digits/1.wav:asterisk-core-sounds-en-wav \
              /usr/share/asterisk/moh/macroform-cold_day.wav:asterisk-moh-opsound-wav

.PHONY: run test check bench lint typecheck apt-tools apt-sounds prompts clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,bench]'
	touch $(STAMP)

# $(call apt_install,need:package ...) installs a Debian package only when its command (or,
# for a need starting with /, its file) is missing, so a prepared machine does no network
# work at all.
define apt_install
	@missing=""; for pair in $(1); do \
	  need=$${pair%%:*}; pkg=$${pair##*:}; \
	  case $$need in \
	    /*) [ -e $$need ] || missing="$$missing $$pkg" ;; \
	    *) command -v $$need >/dev/null 2>&1 || missing="$$missing $$pkg" ;; \
	  esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

# the sound packages too, so that `make test` on a fresh machine updates the index once
apt-tools:
	$(call apt_install,$(APT_TOOLS) $(APT_SOUNDS))

apt-sounds:
	$(call apt_install,$(APT_SOUNDS))

# The English prompts and the music on hold taken from the Debian sound packages are
# converted into prompts/en and prompts/moh here (not committed; quick when up to date).
prompts: $(STAMP) apt-sounds
	$(PY) prompts/generate.py --install

run: prompts
	.venv/bin/softswitch run --config config.example.yaml

check: prompts
	.venv/bin/softswitch check --config config.example.yaml

# The suite runs in three workers, one test file each at a time (--dist loadfile): it mostly
# waits on real calls, prompts and browsers (~7 min of CPU in ~29 min serial). Every switch
# and phone a test starts binds its own free ports (switch RTP ranges are random and the
# media engine skips a busy port). `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 3

test: $(STAMP) apt-tools prompts
	.venv/bin/ruff check softswitch acd media tests benchmarks
	.venv/bin/mypy
	.venv/bin/softswitch check --config config.example.yaml
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=30

bench: $(STAMP) apt-tools prompts
	$(PY) -m benchmarks.acd
	$(PY) -m benchmarks.media
	$(PY) -m benchmarks.sip_load
	$(PY) -m benchmarks.sip_hostile
	$(PY) -m benchmarks.reports
	$(PY) -m benchmarks.panels
	$(PY) -m benchmarks.soak

lint: $(STAMP)
	.venv/bin/ruff check softswitch acd media tests benchmarks

typecheck: $(STAMP)
	.venv/bin/mypy

clean:
	rm -rf .venv
