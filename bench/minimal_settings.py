"""Settings for bench/reception.py's server: the project's own, plus one URLconf that adds the
minimal endpoint next to the real API (same process, same middleware, same authentication)."""

from motcua.settings import *  # noqa: F403

ROOT_URLCONF = "bench.minimal_urls"
