import json

from django.core.management.base import BaseCommand, CommandError

from ledger.selectors import ledger_audit


class Command(BaseCommand):
    help = "Recompute every ledger balance and transaction sum; exit non-zero on any mismatch."

    def handle(self, *args, **options):
        report = ledger_audit()
        self.stdout.write(json.dumps(report, indent=2, default=str))
        if not report["ok"]:
            raise CommandError("ledger audit FAILED: the books do not balance")
        self.stdout.write(self.style.SUCCESS("ledger audit ok"))
