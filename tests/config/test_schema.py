"""The config schema engine: lax YAML coercions, error types/messages/locations, frozen models, dumps.

The messages are the ones users see (``validate.issues_from`` only rewrites unknown/missing
fields), so they are pinned here case by case.
"""

from __future__ import annotations

import datetime
import enum
from typing import Annotated, Any, ClassVar, Literal

import pytest

from guardia.config.schema import (
    BeforeValidator,
    Field,
    Model,
    NonNegativeInt,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from guardia.config.secrets import Secret


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Inner(Model):
    x: int = 0


def _upper(v: Any) -> Any:
    return v.upper() if isinstance(v, str) else v


class Sample(Model):
    i: int = 0
    b: bool = False
    f: float = 0.0
    s: str = ""
    t: tuple[str, ...] = ()
    items: list[int] = Field(default_factory=list)
    d: dict[str, str] | None = None
    color: Color = Color.RED
    scheme: Literal["http", "https"] = "http"
    inner: Inner = Field(default_factory=Inner)
    pairs: list[tuple[int, int]] = Field(default_factory=list)
    limit: NonNegativeInt = 0
    shout: Annotated[str, BeforeValidator(_upper)] = ""
    secret: Secret | None = None
    from_: str | None = Field(default=None, alias="from")


def errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str, str]]:
    with pytest.raises(ValidationError) as e:
        Sample.model_validate(data)
    return [(err["loc"], err["type"], err["msg"]) for err in e.value.errors()]


@pytest.mark.parametrize(("data", "field", "value"), [
    ({"i": "12"}, "i", 12),
    ({"i": " 3 "}, "i", 3),
    ({"i": 2.0}, "i", 2),
    ({"i": "4.0"}, "i", 4),
    ({"i": True}, "i", 1),
    ({"b": "yes"}, "b", True),
    ({"b": "Off"}, "b", False),
    ({"b": 1}, "b", True),
    ({"f": 2}, "f", 2.0),
    ({"f": "1.5"}, "f", 1.5),
    ({"t": ["a", "b"]}, "t", ("a", "b")),
    ({"items": (1, "2")}, "items", [1, 2]),
    ({"color": "blue"}, "color", Color.BLUE),
    ({"scheme": "https"}, "scheme", "https"),
    ({"inner": {"x": "5"}}, "inner", Inner(x=5)),
    ({"pairs": [[1, 2]]}, "pairs", [(1, 2)]),
    ({"shout": "hi"}, "shout", "HI"),
    ({"from": "a@b"}, "from_", "a@b"),
    ({"from_": "a@b"}, "from_", "a@b"),
])
def test_lax_yaml_values_are_read_as_prometheus_users_write_them(data: dict[str, Any], field: str,
                                                                  value: Any) -> None:
    assert getattr(Sample.model_validate(data), field) == value


@pytest.mark.parametrize(("data", "expected"), [
    ({"i": 1.5}, [(("i",), "int_from_float",
                   "Input should be a valid integer, got a number with a fractional part")]),
    ({"i": "x"}, [(("i",), "int_parsing",
                   "Input should be a valid integer, unable to parse string as an integer")]),
    ({"i": None}, [(("i",), "int_type", "Input should be a valid integer")]),
    ({"b": 2}, [(("b",), "bool_parsing", "Input should be a valid boolean, unable to interpret input")]),
    ({"b": "nah"}, [(("b",), "bool_parsing", "Input should be a valid boolean, unable to interpret input")]),
    ({"b": 1.5}, [(("b",), "bool_type", "Input should be a valid boolean")]),
    ({"f": "x"}, [(("f",), "float_parsing",
                   "Input should be a valid number, unable to parse string as a number")]),
    ({"s": 1}, [(("s",), "string_type", "Input should be a valid string")]),
    ({"t": "ab"}, [(("t",), "tuple_type", "Input should be a valid tuple")]),
    ({"t": ["a", 1]}, [(("t", 1), "string_type", "Input should be a valid string")]),
    ({"items": "ab"}, [(("items",), "list_type", "Input should be a valid list")]),
    ({"d": []}, [(("d",), "dict_type", "Input should be a valid dictionary")]),
    ({"d": {"a": 1}}, [(("d", "a"), "string_type", "Input should be a valid string")]),
    ({"d": {1: "a"}}, [(("d", 1, "[key]"), "string_type", "Input should be a valid string")]),
    ({"color": "RED"}, [(("color",), "enum", "Input should be 'red' or 'blue'")]),
    ({"scheme": "ftp"}, [(("scheme",), "literal_error", "Input should be 'http' or 'https'")]),
    ({"inner": "x"}, [(("inner",), "model_type", "Input should be a valid dictionary or instance of Inner")]),
    ({"inner": {"y": 1}}, [(("inner", "y"), "extra_forbidden", "Extra inputs are not permitted")]),
    ({"pairs": [[1, 2, 3]]}, [(("pairs", 0), "too_long",
                               "Tuple should have at most 2 items after validation, not 3")]),
    ({"pairs": [[1]]}, [(("pairs", 0, 1), "missing", "Field required")]),
    ({"limit": -1}, [(("limit",), "greater_than_equal", "Input should be greater than or equal to 0")]),
    ({"secret": [1]}, [(("secret",), "value_error", "must be a string")]),
    ({"nope": 1, "i": "q"}, [
        (("i",), "int_parsing", "Input should be a valid integer, unable to parse string as an integer"),
        (("nope",), "extra_forbidden", "Extra inputs are not permitted"),
    ]),
    ({1: "x"}, [((1,), "invalid_key", "Keys should be strings")]),
])
def test_errors_keep_the_wording_and_location_users_see(data: dict[Any, Any],
                                                        expected: list[tuple[Any, ...]]) -> None:
    assert errors(data) == expected


class Required(Model):
    name: str
    class_: str = Field(alias="class")


def test_missing_required_fields_are_named_as_written_in_yaml() -> None:
    with pytest.raises(ValidationError) as e:
        Required.model_validate({})
    assert [(err["loc"], err["type"]) for err in e.value.errors()] == [
        (("name",), "missing"), (("class",), "missing")]


class Checked(Model):
    """Validators run in pydantic's order: field before, type, field after, then the model's."""

    trace: ClassVar[list[str]] = []
    low: int = 0
    high: int = 0
    _seen: str = PrivateAttr(default="")
    _late: str = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        cls.trace.append("model-before")
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    @field_validator("low", "high", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        cls.trace.append("field-before")
        return v.strip() if isinstance(v, str) else v

    @field_validator("high")
    @classmethod
    def _positive(cls, v: int) -> int:
        cls.trace.append("field-after")
        if v < 0:
            raise ValueError("high must not be negative")
        return v

    @model_validator(mode="after")
    def _order(self) -> Checked:
        Checked.trace.append("model-after")
        if self.low > self.high:
            raise ValueError("low is above high")
        self._seen = "checked"
        return self


def test_validators_run_in_order_and_their_errors_are_positioned() -> None:
    Checked.trace.clear()
    c = Checked.model_validate({"low": " 1 ", "high": "2", "extra_null": None})
    assert (c.low, c.high, c._seen) == (1, 2, "checked")
    assert Checked.trace == ["model-before", "field-before", "field-before", "field-after", "model-after"]
    with pytest.raises(ValidationError) as e:
        Checked.model_validate({"high": -1})
    assert [(err["loc"], err["msg"]) for err in e.value.errors()] == [
        (("high",), "high must not be negative")]
    with pytest.raises(ValidationError) as e:
        Checked.model_validate({"low": 3, "high": 2})
    assert [(err["loc"], err["msg"]) for err in e.value.errors()] == [((), "low is above high")]
    with pytest.raises(AttributeError):
        _ = c._late


def test_models_are_frozen_but_private_attributes_can_be_set() -> None:
    s = Sample.model_validate({"i": 1})
    with pytest.raises(ValidationError):
        s.i = 2
    c = Checked.model_validate({})
    c._late = "set by a loader"
    assert c._late == "set by a loader"


def test_copy_equality_hash_and_repr() -> None:
    a = Inner.model_validate({"x": 1})
    b = a.model_copy(update={"x": 2})
    assert (a.x, b.x) == (1, 2)
    assert a == Inner(x=1) and a != b and hash(a) == hash(Inner(x=1))
    assert repr(b) == "Inner(x=2)"
    # Not revalidated, as pydantic's model_copy: the loader stores resolved values this way.
    assert Inner.model_validate({}).model_copy(update={"x": "raw"}).x == "raw"


def test_default_factories_give_each_model_its_own_value() -> None:
    a, b = Sample.model_validate({}), Sample.model_validate({})
    assert a.items == [] and a.items is not b.items


class Dumped(Model):
    token: Secret | None = None
    wait: Annotated[int, PlainSerializer(lambda ms: f"{ms}ms")] = 0
    names: tuple[str, ...] = ()
    color: Color = Color.RED
    inner: Inner = Field(default_factory=Inner)
    from_: str | None = Field(default=None, alias="from")
    hidden: str = Field(default="", exclude=True)
    extra: dict[str, Any] | None = None


def test_dump_redacts_secrets_and_writes_yaml_spelling() -> None:
    d = Dumped.model_validate({"token": "s3cr3t", "wait": 5, "names": ["a"], "color": "blue", "from": "x",
                               "hidden": "h", "extra": {"when": datetime.date(2026, 1, 2), "n": (1,)}})
    assert d.model_dump(mode="json", by_alias=True, exclude_none=True) == {
        "token": "<secret>", "wait": "5ms", "names": ["a"], "color": "blue", "inner": {"x": 0}, "from": "x",
        "extra": {"when": "2026-01-02", "n": [1]},
    }
    python = d.model_dump()
    assert python["names"] == ("a",) and python["color"] is Color.BLUE and "from_" in python
    assert Dumped.model_validate({"token": "t"}).model_dump(exclude_defaults=True) == {"token": "<secret>"}


class Tree(Model):
    name: str = ""
    children: list[Tree] = Field(default_factory=list)
    later: Later | None = None


class Later(Model):
    """Declared after the model that names it: classes compile on first use, not at definition."""

    ok: bool = True


def test_recursive_and_forward_referenced_models() -> None:
    t = Tree.model_validate({"name": "root", "children": [{"name": "a", "children": [{"name": "b"}]}],
                             "later": {"ok": "no"}})
    assert t.children[0].children[0].name == "b" and t.later == Later(ok=False)
    with pytest.raises(ValidationError) as e:
        Tree.model_validate({"children": [{}, {"children": [{"nme": "x"}]}]})
    assert [err["loc"] for err in e.value.errors()] == [("children", 1, "children", 0, "nme")]
    assert list(Tree.model_fields) == ["name", "children", "later"]


class Typo(Model):
    name: str = ""

    @field_validator("nmae", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v


def test_a_validator_for_a_field_that_does_not_exist_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match=r"Typo: validators name fields it does not have: \['nmae'\]"):
        Typo.model_validate({})
