"""`python manage.py demo_story --base URL`: the whole story against a RUNNING server, over HTTP.

An operator configures the shop, distributors are recruited two levels deep and share links,
friends click, bind, buy and pay through the WeChat sandbox, one order is refunded, a crowdfund
fills, a red envelope is grabbed, commissions pass the freeze period (set to 0 days by the
operator) and settle (the operator runs `commissions.settle` from the console), distributors
withdraw, the operator approves and the payouts land. It prints its progress, a short report
and the ledger audit (GET /api/v1/ops/ledger/audit/); it exits non-zero when a step fails or
the books do not balance. `--distributors` and `--friends` size it (a load scenario too).

The story lives in `_story.py` beside this file; neither imports our own code (HTTP only,
through `requests`), so it can be pointed at any server in sandbox mode. docs/demo.md.
"""

import json
import os

from django.core.management.base import BaseCommand, CommandError

from ._story import Story, StoryError, report_text


class Command(BaseCommand):
    help = "Tell the whole story (shop, distributors, friends, refund, campaigns, payouts) to a running server."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base",
            default=os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
            help="The running server (default PUBLIC_BASE_URL or http://127.0.0.1:8000).",
        )
        parser.add_argument("--username", default="operator", help="A superuser operator (load_demo's 'operator').")
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_OPERATOR_PASSWORD", ""),
            help="Its password (default DEMO_OPERATOR_PASSWORD; load_demo prints it).",
        )
        parser.add_argument("--distributors", type=int, default=4, help="Distributors, half of them on level 2.")
        parser.add_argument("--friends", type=int, default=3, help="Friends per distributor (every third only looks).")
        parser.add_argument("--run", default="", help="A tag for this run's test identities (default: the time).")
        parser.add_argument("--payout-wait", type=float, default=60, help="Seconds to wait for the payouts.")
        parser.add_argument(
            "--keep-settings",
            action="store_true",
            help="Leave the story's distribution settings (freeze 0 days, ...) in place.",
        )
        parser.add_argument("--json", dest="json_path", default="", help="Also write the report as JSON here.")

    def handle(
        self,
        *args,
        base,
        username,
        password,
        distributors,
        friends,
        run,
        payout_wait,
        keep_settings,
        json_path,
        **options,
    ):
        if not password:
            raise CommandError(
                "the operator's password is needed: --password or DEMO_OPERATOR_PASSWORD (load_demo prints it)"
            )
        if distributors > 500 or friends > 200:
            raise CommandError("--distributors is at most 500 and --friends at most 200")
        try:
            story = Story(
                base=base,
                username=username,
                password=password,
                distributors=distributors,
                friends=friends,
                run=run,
                keep_settings=keep_settings,
                payout_wait=payout_wait,
                out=self.stdout.write,
            )
            report = story.tell()
        except StoryError as exc:
            raise CommandError(f"the story stopped: {exc}") from exc
        self.stdout.write("")
        for line in report_text(report):
            self.stdout.write(line)
        if json_path:
            with open(json_path, "w", encoding="utf-8") as fh:
                json.dump(report, fh, ensure_ascii=False, indent=2, default=str)
        if not report["ledger_audit"].get("ok"):
            raise CommandError(f"the ledger audit found a mismatch: {report['ledger_audit']}")
