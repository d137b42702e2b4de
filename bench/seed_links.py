"""A bench distributor and share link for the share-link image rows (called from bench/seed.py).

The link has the fixed code BENCH_SHARE_CODE, which bench/endpoints.py names (wrk replays one path).
"""
from django.utils import timezone

from accounts.models import User
from distributors.models import Distributor, DistributorStatus, ShareLink, TargetType

BENCH_SHARE_CODE = "BENCHQR2"  # only characters of distributors.codes.ALPHABET


def seed_share_link() -> str:
    user, _ = User.objects.get_or_create(username="bench-distributor", defaults={"nickname": "bench 分销"})
    distributor, _ = Distributor.objects.get_or_create(
        user=user,
        defaults={
            "status": DistributorStatus.APPROVED,
            "real_name": "bench",
            "phone": "13800000000",
            "invite_code": "BENCHNV2",
            "approved_at": timezone.now(),
        },
    )
    ShareLink.objects.get_or_create(
        code=BENCH_SHARE_CODE, defaults={"distributor": distributor, "target_type": TargetType.STORE}
    )
    return BENCH_SHARE_CODE
