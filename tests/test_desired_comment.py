"""DesiredComment: a deferred body renders once, when read, and behaves like a plain one."""

from __future__ import annotations

import pickle

import pytest

from bridge.policy.model import DesiredComment


class Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def render(self, text: str) -> str:
        self.calls.append(text)
        return text.upper()


def test_deferred_body_is_rendered_on_first_read_only() -> None:
    counter = Counter()
    comment = DesiredComment.deferred("SUP-1/esc/0.0/x", False, counter.render, "sup-1 is late")
    assert counter.calls == []  # building it renders nothing
    assert comment.body == "SUP-1 IS LATE"
    assert comment.body == "SUP-1 IS LATE"
    assert counter.calls == ["sup-1 is late"]


def test_deferred_equals_plain_with_the_same_text() -> None:
    deferred = DesiredComment.deferred("id", True, str.strip, "  hello ")
    plain = DesiredComment("id", True, "hello")
    assert deferred == plain
    assert hash(deferred) == hash(plain)
    assert repr(deferred) == "DesiredComment(action_id='id', public=True, body='hello')"
    assert deferred != DesiredComment("id", False, "hello")
    assert deferred != DesiredComment("id", True, "hello!")
    assert deferred != DesiredComment("other", True, "hello")


def test_pickles_as_its_text() -> None:
    comment = DesiredComment.deferred(
        "id", True, lambda t: t + "!", "hi"
    )  # a lambda does not pickle
    again = pickle.loads(pickle.dumps(comment))
    assert again == DesiredComment("id", True, "hi!")


def test_cannot_be_changed() -> None:
    comment = DesiredComment("id", True, "hello")
    with pytest.raises(AttributeError):
        comment.public = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del comment.action_id
