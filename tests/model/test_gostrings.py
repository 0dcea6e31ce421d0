"""go_quote / labels_string: the one spelling of Go's %q that every stage prints."""

import pytest

from guardia.model.gostrings import go_quote, go_unescape, labels_string


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


@pytest.mark.parametrize(("body", "text"), [
    ("plain", "plain"),
    ('a\\"b\\\\c', 'a"b\\c'),
    ("\\n\\t\\a\\v", "\n\t\a\v"),
    ("\\xc3\\xb1", "ñ"),
    ("\\303\\261", "ñ"),
    ("\\u00f1\\U0001F600", "ñ\U0001F600"),
])
def test_go_unescape_reads_go_literals(body: str, text: str) -> None:
    assert go_unescape(body) == text


@pytest.mark.parametrize("body", ["\\q", "trailing\\"])
def test_go_unescape_rejects_bad_escapes(body: str) -> None:
    with pytest.raises(ValueError, match="invalid syntax"):
        go_unescape(body)


@pytest.mark.parametrize("value", ["x", 'q"\\', "a\nb\t\x01", "ñ ✓"])
def test_go_unescape_inverts_go_quote(value: str) -> None:
    assert go_unescape(go_quote(value)[1:-1]) == value
