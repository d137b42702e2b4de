"""A web process grabbing a red-envelope share, killed between the Redis gate and the database
(tests/campaigns/test_envelope_grab_kill.py).

    python -m tests.campaigns.envelope_grabber_process <envelope_id> <user_id>

It calls campaigns.services.envelope_grabs.envelope_grab with the claim held: once the gate has
handed out a position (and recorded the pair in Redis), it prints ``GATED <position>`` (flushed)
and sleeps instead of claiming the share, so a SIGKILL lands after Redis and before PostgreSQL.
"""
from __future__ import annotations

import os
import sys
import time


def main(envelope_id: int, user_id: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()
    from campaigns.services import envelope_grabs

    def held_claim(envelope_id, *, user_id, position, left):
        sys.stdout.write(f"GATED {position}\n")
        sys.stdout.flush()
        time.sleep(60)  # the test kills us long before

    envelope_grabs._claim = held_claim
    envelope_grabs.envelope_grab(user_id=user_id, envelope_id=envelope_id)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
