"""Unlock an operator's username and/or an address before the login-failure window ends."""
from django.core.management.base import BaseCommand, CommandError

from accounts import login_limits


class Command(BaseCommand):
    help = (
        "Forget the failed operator logins counted for a username and/or a client IP (admin and API), so the "
        "next login is not refused. --show only prints the counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", help="the username as typed at the login (case and blanks do not matter)")
        parser.add_argument("--ip", help="the client address (an IPv6 address unlocks its /64)")
        parser.add_argument("--show", action="store_true", help="print the current counts, change nothing")

    def handle(self, *args, username=None, ip=None, show=False, **options):
        if username is None and ip is None:
            raise CommandError("Give --username and/or --ip.")
        counts = login_limits.login_failures_get(username=username, ip=ip)
        for name, count in counts.items():
            what = f"username {username!r}" if name == "username" else f"address {login_limits.ip_bucket(ip)}"
            self.stdout.write(f"{what}: {count} failed login(s) in the current window")
        if show:
            return
        login_limits.login_failures_clear(username=username, ip=ip)
        self.stdout.write(self.style.SUCCESS("unlocked"))
