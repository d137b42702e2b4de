"""The bench's Django settings: production's (`config.settings.base`) plus what the bench must be
able to set from the environment that base does not read.

* THROTTLE_GRAB: the red-envelope grab throttle (api/throttling.py GrabRateThrottle reads
  `settings.THROTTLE_GRAB`, default 30/min per user). bench/run.py sets it far too high to
  trigger, as it does THROTTLE_USER / THROTTLE_ANON, so the grab rows measure grabs, not 429s.
"""
import os

from config.settings.base import *  # noqa: F403

THROTTLE_GRAB = os.environ.get("THROTTLE_GRAB") or globals().get("THROTTLE_GRAB", "30/min")
