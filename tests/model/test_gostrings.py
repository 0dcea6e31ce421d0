"""go_quote / labels_string: the one spelling of Go's %q that every stage prints."""

import pytest

from guardia.model.gostrings import go_quote, labels_string


@pytest.mark.parametrize(("value", "quoted"), [
    ("plain", '"plain"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("a\\b", '"a\\\\b"'),
    ("l1\nl2\tx\r", '"l1\\nl2\\tx\\r"'),
    ("\a\b\f\v", '"\\a\\b\\f\\v"'),
    ("\x01\x7f", '"\\x01\\x7f"'),
    ("ñandú ✓", '"ñandú ✓"'),
    ("\u00a0", '"\\u00a0"'),
    (b"\xff".decode("utf-8", "surrogateescape"), '"\\xff"'),
])
def test_it_quotes_like_strconv_quote(value: str, quoted: str) -> None:
    assert go_quote(value) == quoted


def test_labels_string_keeps_the_given_order() -> None:
    assert labels_string([("a", "1"), ("b", 'x"y')]) == '{a="1", b="x\\"y"}'
    assert labels_string([]) == "{}"
