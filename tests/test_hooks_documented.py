"""docs/architecture.md lists every hook the apps offer (core.hooks.hooks_all()), and nothing else."""
import importlib
import importlib.util
import re
from pathlib import Path

from django.apps import apps

from core.hooks import hooks_all

DOC = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def _offered() -> set[str]:
    """Every app's hooks.py imported (and core.jobs), then the hooks declared by an app."""
    labels = set()
    for config in apps.get_app_configs():
        labels.add(config.name.split(".")[0])
        if importlib.util.find_spec(f"{config.name}.hooks") is not None:
            importlib.import_module(f"{config.name}.hooks")
    importlib.import_module("core.jobs")
    # (tests declare hooks of their own, "test.…"; only the apps' count)
    return {hook.name for hook in hooks_all() if hook.name.split(".")[0] in labels}


def _documented() -> set[str]:
    """The hook names in the first column of the hooks table."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Cross-app reactions: explicit hooks", 1)[1].split("\n## ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `([a-z_]+\.[a-z_]+)`", section, flags=re.M)}


def test_every_offered_hook_is_in_the_architecture_table():
    offered = _offered()
    assert {"wechat.payment_paid", "mall.order_moment", "core.jobs"} <= offered
    missing = offered - _documented()
    assert not missing, f"docs/architecture.md does not list these hooks: {sorted(missing)}"


def test_the_table_lists_no_hook_that_does_not_exist():
    unknown = _documented() - _offered()
    assert not unknown, f"docs/architecture.md lists hooks nobody offers: {sorted(unknown)}"
