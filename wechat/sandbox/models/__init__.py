"""The sandbox's own state. Split by area: common (faults), pay, mp (OAuth, official account)."""
from .common import *  # noqa: F401,F403
from .mp import *  # noqa: F401,F403
from .pay import *  # noqa: F401,F403
from .v3 import *  # noqa: F401,F403
