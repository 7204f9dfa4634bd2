"""The Bulk plan (RFC 7644 §3.7.1-2): literal declarations and references in, steps out."""

from __future__ import annotations

from scim_bridge.errors import Conflict, InvalidValue
from scim_bridge.scim.bulk_plan import Step, plan


def indices(steps: list[Step]) -> list[int]:
    return [s.index for s in steps]


def test_operations_without_references_keep_request_order() -> None:
    steps = plan(["a", None, "b", None], [set(), set(), set(), set()])
    assert steps == [Step(0), Step(1), Step(2), Step(3)]


def test_an_operation_waits_for_the_post_it_references_and_no_longer() -> None:
    # 0 references 3; 1 and 2 are free; 4 references 0.
    steps = plan(["g", None, None, "u", None], [{"u"}, set(), set(), set(), {"g"}])
    assert indices(steps) == [1, 2, 3, 0, 4]
    assert all(s.refusal is None for s in steps)


def test_a_reference_nobody_declares_does_not_hold_the_operation_back() -> None:
    assert indices(plan([None, "a"], [{"nowhere"}, set()])) == [0, 1]


def test_a_chain_written_backwards_runs_forwards_without_recursion() -> None:
    n = 20_000
    declares = [f"u{i}" for i in range(n)]
    refs = [{f"u{i + 1}"} if i < n - 1 else set() for i in range(n)]
    assert indices(plan(declares, refs)) == list(range(n - 1, -1, -1))


def test_circles_and_what_waits_on_them_are_refused_with_409() -> None:
    steps = plan(
        ["a", "free", "b", "self", "after", "c"],
        [{"b"}, set(), {"a"}, {"self"}, {"a"}, {"after"}],
    )
    assert indices(steps) == [1, 0, 2, 3, 4, 5]
    refusals = {s.index: s.refusal for s in steps}
    assert refusals[1] is None
    for i in (0, 2, 3, 4, 5):
        assert isinstance(refusals[i], Conflict) and refusals[i].status == 409
        assert refusals[i].scim_type is None
    assert "bulkIds a, b refer to each other" in refusals[0].detail
    assert "bulkIds self refer" in refusals[3].detail
    assert "bulkId a created no resource" in refusals[4].detail
    assert "bulkId after created no resource" in refusals[5].detail


def test_a_long_circle_is_found_without_recursion() -> None:
    n = 20_000
    declares = [f"g{i}" for i in range(n)]
    refs = [{f"g{(i + 1) % n}"} for i in range(n)]
    steps = plan(declares, refs)
    assert indices(steps) == list(range(n))
    assert all(isinstance(s.refusal, Conflict) for s in steps)


def test_a_bulk_id_declared_twice_is_refused_the_second_time() -> None:
    steps = plan(["x", "x", None], [set(), set(), {"x"}])
    assert indices(steps) == [0, 1, 2]
    assert steps[0].refusal is None and steps[2].refusal is None
    assert isinstance(steps[1].refusal, InvalidValue)
    assert "already declared by operation 1" in steps[1].refusal.detail
