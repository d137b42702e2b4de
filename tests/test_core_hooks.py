"""core.hooks: one registry shape for every hook an app offers."""
import pytest

from core.hooks import Hook, hooks_all


def test_subscribers_run_in_explicit_order_then_registration_order():
    hook = Hook("test.ordered", doc="ordering")
    calls = []
    late = hook.register(lambda: calls.append("late"), order=200)
    hook.register(lambda: calls.append("first"), order=10)
    hook.register(lambda: calls.append("second"), order=10)
    for fn in hook.subscribers():
        fn()
    assert calls == ["first", "second", "late"]
    hook.unregister(late)
    assert len(hook.subscribers()) == 2


def test_registering_again_moves_instead_of_running_twice():
    hook = Hook("test.again", doc="again")

    def fn():
        return None

    hook.register(fn, order=1)
    hook.register(fn, order=300)
    assert hook.subscribers() == [fn]


def test_keyed_hooks_keep_one_list_per_key_and_demand_a_key():
    hook = Hook("test.keyed", doc="keyed", keyed=True)
    a, b = (lambda: "a"), (lambda: "b")
    hook.register(a, key="mall.order")
    hook.register(b, key="campaigns.crowdfund")
    assert hook.subscribers("mall.order") == [a]
    assert hook.subscribers("unknown") == []
    assert sorted(hook.keys()) == ["campaigns.crowdfund", "mall.order"]
    with pytest.raises(ValueError, match="needs a key"):
        hook.register(a)
    hook.unregister(key="mall.order")
    assert hook.subscribers("mall.order") == []


def test_single_slot_hooks_hold_one_subscriber():
    hook = Hook("test.single", doc="single", single=True)
    assert hook.one() is None
    a, b = (lambda: "a"), (lambda: "b")
    hook.register(a)
    hook.register(b)
    assert hook.subscribers() == [b] and hook.one() is b


def test_bad_declarations_and_registrations_are_refused():
    Hook("test.unique", doc="x")
    with pytest.raises(ValueError, match="twice"):
        Hook("test.unique", doc="x")
    with pytest.raises(ValueError, match="doc"):
        Hook("test.nodoc", doc="")
    hook = Hook("test.plain", doc="plain")
    with pytest.raises(ValueError, match="takes no key"):
        hook.register(lambda: None, key="k")
    with pytest.raises(TypeError):
        hook.register("not callable")
    assert hook in hooks_all()


def test_a_bound_method_is_found_again_by_equality():
    """`obj.method` is a new object at every access: unregistering it must still work, and
    registering it twice must not run it twice."""
    hook = Hook("test.bound", doc="bound methods")

    class Subscriber:
        def on(self):
            return None

    sub = Subscriber()
    hook.register(sub.on)
    hook.register(sub.on)
    assert len(hook.subscribers()) == 1
    hook.unregister(sub.on)
    assert hook.subscribers() == []


def test_replace_keeps_the_place_in_the_running_order():
    hook = Hook("test.replace", doc="replace", keyed=True)
    first, middle, last, timer = (lambda: 1), (lambda: 2), (lambda: 3), (lambda: 4)
    hook.register(first, key="k", order=10)
    hook.register(middle, key="k", order=20)
    hook.register(last, key="k", order=20)
    hook.replace(middle, timer, key="k")
    assert hook.subscribers("k") == [first, timer, last]
    with pytest.raises(KeyError):
        hook.replace(middle, timer, key="k")
