"""A small annotation-driven validator for the config models (what pydantic did here, faster to start).

``guardia check config`` runs in pre-commit hooks and CI steps, so its start-up counts: pydantic
spent about 0.3 s building schemas for ~40 config classes at import, more than the whole check.
Models here are declared the same way (annotations, ``Field``, ``field_validator``,
``model_validator``, ``Annotated[..., BeforeValidator(...)]``) but a class compiles its
validators lazily, on first use, and only for what is used, in plain Python.

Semantics follow pydantic's lax mode for what the config package uses, including the error
``type``s and messages (users see them, and the tests pin them): models are frozen, unknown
fields are refused, ``"10"`` is accepted for an int and ``yes`` for a bool, a list is accepted
for a tuple, defaults are not validated, ``model_copy`` does not revalidate.  One departure, for
Go's sake: a string field (or list/dict item) given an unquoted YAML scalar gets its source
text (``true``, ``1.50``, ``0123``) when the YAML builder recorded it (``scalars.TextMap``).
"""

from __future__ import annotations

import datetime
import enum
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal, TypeVar, Union

from guardia.config.scalars import TextList, TextMap

__all__ = [
    "BeforeValidator", "Field", "FieldInfo", "Ge", "Model", "NonNegativeInt", "PlainSerializer",
    "PrivateAttr", "ValidationError", "field_validator", "model_validator",
]

_MISSING: Any = object()

Loc = tuple[str | int, ...]
ErrorDict = dict[str, Any]


# --------------------------------------------------------------------------- errors


class ValidationError(ValueError):
    """Every problem found while validating one input; ``errors()`` lists them as pydantic did."""

    def __init__(self, title: str, errors: list[ErrorDict]) -> None:
        self.title = title
        self._errors = errors
        lines = [f"{len(errors)} validation error{'s' if len(errors) != 1 else ''} for {title}"]
        for e in errors:
            lines.append(".".join(str(p) for p in e["loc"]) or "(root)")
            lines.append(f"  {e['msg']} [type={e['type']}]")
        super().__init__("\n".join(lines))

    def errors(self) -> list[ErrorDict]:
        return list(self._errors)


class _Invalid(Exception):
    """Raised inside validation; carries (loc, type, msg) triples relative to the value."""

    __slots__ = ("errors",)

    def __init__(self, errors: list[tuple[Loc, str, str]]) -> None:
        self.errors = errors


def _fail(kind: str, msg: str) -> _Invalid:
    return _Invalid([((), kind, msg)])


def _prefixed(loc: Loc, exc: _Invalid) -> list[tuple[Loc, str, str]]:
    return [((*loc, *sub), kind, msg) for sub, kind, msg in exc.errors]


# --------------------------------------------------------------------------- declarations


class BeforeValidator:
    """``Annotated[T, BeforeValidator(f)]``: ``f(raw)`` runs before ``T`` is checked."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func


class PlainSerializer:
    """``Annotated[T, PlainSerializer(f)]``: ``model_dump`` writes ``f(value)``."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[Any], Any], return_type: Any = None) -> None:
        self.func = func


class Ge:
    """``Annotated[int, Ge(0)]``: the value must be at least ``ge``."""

    __slots__ = ("ge",)

    def __init__(self, ge: int) -> None:
        self.ge = ge


NonNegativeInt = typing.Annotated[int, Ge(0)]


class _FieldSpec:
    __slots__ = ("alias", "default", "default_factory", "exclude", "ge")

    def __init__(self, default: Any, default_factory: Callable[[], Any] | None, alias: str | None,
                 ge: int | None, exclude: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.alias = alias
        self.ge = ge
        self.exclude = exclude


def Field(
    default: Any = _MISSING,
    *,
    default_factory: Callable[[], Any] | None = None,
    alias: str | None = None,
    ge: int | None = None,
    exclude: bool = False,
) -> Any:
    """A field's default (or factory), YAML name (``alias``), lower bound and dump exclusion."""
    return _FieldSpec(default, default_factory, alias, ge, exclude)


class _PrivateSpec:
    __slots__ = ("default",)

    def __init__(self, default: Any) -> None:
        self.default = default


def PrivateAttr(default: Any = _MISSING) -> Any:
    """An attribute set by validators or loaders, never read from YAML nor dumped."""
    return _PrivateSpec(default)


class _FieldValidator:
    __slots__ = ("fields", "func", "mode")

    def __init__(self, fields: tuple[str, ...], mode: str, func: Any) -> None:
        self.fields = fields
        self.mode = mode
        self.func = func


class _ModelValidator:
    __slots__ = ("func", "mode")

    def __init__(self, mode: str, func: Any) -> None:
        self.mode = mode
        self.func = func


def field_validator(*fields: str, mode: Literal["before", "after"] = "after") -> Callable[[Any], Any]:
    """Check or convert the named fields: ``before`` sees the raw YAML value, ``after`` the typed one.

    The decorated function may be a classmethod ``(cls, v)`` or a plain function ``(v)``; it
    returns the value to use or raises ``ValueError`` with the message to show.
    """
    def wrap(func: Any) -> Any:
        return _FieldValidator(fields, mode, func)
    return wrap


def model_validator(*, mode: Literal["before", "after"]) -> Callable[[Any], Any]:
    """``before``: a classmethod given the raw mapping; ``after``: a method given the built model."""
    def wrap(func: Any) -> Any:
        return _ModelValidator(mode, func)
    return wrap


# --------------------------------------------------------------------------- fields


class FieldInfo:
    """One compiled field: its YAML name, default, type, and how to check and dump it."""

    __slots__ = ("alias", "annotation", "default", "default_factory", "dump", "exclude", "name", "text",
                 "validate")

    def __init__(self, name: str, annotation: Any, spec: _FieldSpec) -> None:
        self.name = name
        self.annotation = annotation
        self.alias = spec.alias
        self.default = spec.default
        self.default_factory = spec.default_factory
        self.exclude = spec.exclude
        self.validate: Callable[[Any], Any] = _identity
        self.dump: Callable[[Any, _DumpOptions], Any] = _dump_any
        # A string field: a YAML ``true`` or ``1.50`` arrives as written, as Go decodes it.
        self.text = _wants_text(annotation)

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.default_factory is None

    def get_default(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        return self.default


class _Compiled:
    __slots__ = ("after", "before", "by_key", "fields", "privates")

    def __init__(self) -> None:
        self.fields: dict[str, FieldInfo] = {}
        self.by_key: dict[str, FieldInfo] = {}
        self.before: list[Callable[[Any], Any]] = []
        self.after: list[Callable[[Any], Any]] = []
        self.privates: dict[str, Any] = {}


class _ModelMeta(type):
    @property
    def model_fields(cls) -> dict[str, FieldInfo]:
        """Field name → ``FieldInfo``, in declaration order (base classes' fields first)."""
        return _compiled(cls).fields


_COMPILED: dict[type, _Compiled] = {}


class Model(metaclass=_ModelMeta):
    """Base of the config models: frozen, unknown fields refused, checked on construction.

    ``Model.model_validate(data)`` (or ``Model(**data)``) checks a YAML mapping and raises
    ``ValidationError`` listing every problem with its location.
    """

    __dict__: dict[str, Any]
    __private_defaults__: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Private attributes leave the class namespace, so an unset one raises AttributeError
        # instead of returning its declaration (fields are compiled later, on first use).
        super().__init_subclass__(**kwargs)
        own = {name: v.default for name, v in vars(cls).items() if isinstance(v, _PrivateSpec)}
        for name in own:
            delattr(cls, name)
        cls.__private_defaults__ = {**cls.__private_defaults__, **own}

    def __init__(self, **data: Any) -> None:
        built = type(self).model_validate(data)
        object.__setattr__(self, "__dict__", built.__dict__)

    @classmethod
    def model_validate(cls: type[_M], data: Any) -> _M:
        try:
            result: _M = _validate_model(cls, data)
        except _Invalid as e:
            raise ValidationError(cls.__name__, [
                {"loc": loc, "type": kind, "msg": msg} for loc, kind, msg in e.errors
            ]) from None
        return result

    def model_copy(self: _M, *, update: dict[str, Any] | None = None) -> _M:
        """A copy with ``update`` applied as is (not revalidated, as pydantic's ``model_copy``)."""
        new = object.__new__(type(self))
        state = dict(self.__dict__)
        if update:
            state.update(update)
        object.__setattr__(new, "__dict__", state)
        return new

    def model_dump(self, *, mode: Literal["python", "json"] = "python", by_alias: bool = False,
                   exclude_none: bool = False, exclude_defaults: bool = False) -> dict[str, Any]:
        """The model as plain data; ``json`` mode gives lists, strings and numbers only."""
        return _dump_model(self, _DumpOptions(mode == "json", by_alias, exclude_none, exclude_defaults))

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        raise ValidationError(type(self).__name__, [
            {"loc": (name,), "type": "frozen_instance", "msg": "Instance is frozen"}])

    def __delattr__(self, name: str) -> None:
        raise ValidationError(type(self).__name__, [
            {"loc": (name,), "type": "frozen_instance", "msg": "Instance is frozen"}])

    def _field_values(self) -> tuple[Any, ...]:
        d = self.__dict__
        return tuple(d.get(n) for n in _compiled(type(self)).fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), self._field_values()))

    def __repr__(self) -> str:
        d = self.__dict__
        inner = ", ".join(f"{n}={d.get(n)!r}" for n in _compiled(type(self)).fields)
        return f"{type(self).__name__}({inner})"

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        d = self.__dict__
        for n in _compiled(type(self)).fields:
            yield n, d.get(n)


_M = TypeVar("_M", bound=Model)


def _compiled(cls: type) -> _Compiled:
    c = _COMPILED.get(cls)
    if c is None:
        # Published only once complete (a reload thread may validate at the same time); two
        # threads racing here both build the same thing and one copy wins.
        c = _COMPILED.setdefault(cls, _compile_model(cls))
    return c


def _is_classvar(hint: Any) -> bool:
    return hint is ClassVar or typing.get_origin(hint) is ClassVar


def _compile_model(cls: type) -> _Compiled:
    # Nested models are looked up when a value is validated, not here, so a model that nests
    # itself (Route) or one declared later compiles without recursion.
    c = _Compiled()
    hints = _annotations(cls)
    field_validators: dict[str, _FieldValidator] = {}
    model_validators: dict[str, _ModelValidator] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, _FieldValidator):
                field_validators[attr] = value
            elif isinstance(value, _ModelValidator):
                model_validators[attr] = value
    for name, hint in hints.items():
        if _is_classvar(hint):
            continue
        if name.startswith("_"):
            continue
        raw = _class_default(cls, name)
        spec = raw if isinstance(raw, _FieldSpec) else _FieldSpec(raw, None, None, None, False)
        info = FieldInfo(name, hint, spec)
        mine = [v for v in field_validators.values() if name in v.fields]
        before = [_bind(cls, v.func) for v in mine if v.mode == "before"]
        after = [_bind(cls, v.func) for v in mine if v.mode == "after"]
        info.validate = _field_validator(_type_validator(hint), before, after, spec.ge)
        info.dump = _type_dumper(hint)
        c.fields[name] = info
        c.by_key[name] = info
        if spec.alias:
            c.by_key[spec.alias] = info
    unknown = {f for v in field_validators.values() for f in v.fields} - set(c.fields)
    if unknown:
        raise TypeError(f"{cls.__name__}: validators name fields it does not have: {sorted(unknown)}")
    c.privates = {n: d for n, d in getattr(cls, "__private_defaults__", {}).items() if d is not _MISSING}
    for v in model_validators.values():
        (c.before if v.mode == "before" else c.after).append(_bind(cls, v.func))
    return c


def _annotations(cls: type) -> dict[str, Any]:
    """Every annotation of ``cls`` and its bases (bases first), evaluated in its own module.

    Not ``typing.get_type_hints``: it evaluates in the class namespace, where a lambda in
    ``Annotated[..., BeforeValidator(lambda v: helper(v))]`` cannot see the module's helpers.
    """
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        own = vars(klass).get("__annotations__", {})
        if not own:
            continue
        module = sys.modules.get(klass.__module__)
        globalns = vars(module) if module is not None else {}
        for name, ann in own.items():
            hints[name] = eval(ann, globalns) if isinstance(ann, str) else ann
    return hints


def _class_default(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return _MISSING


def _bind(cls: type, func: Any) -> Callable[[Any], Any]:
    if isinstance(func, classmethod):
        bound: Callable[[Any], Any] = func.__get__(None, cls)
        return bound
    return typing.cast(Callable[[Any], Any], func)


def _call_user(func: Callable[[Any], Any], value: Any) -> Any:
    try:
        return func(value)
    except (ValueError, AssertionError) as e:
        if isinstance(e, ValidationError):
            raise
        raise _fail("value_error", str(e)) from None


def _field_validator(check: Callable[[Any], Any], before: list[Callable[[Any], Any]],
                     after: list[Callable[[Any], Any]], ge: int | None) -> Callable[[Any], Any]:
    if not before and not after and ge is None:
        return check

    def run(value: Any) -> Any:
        for f in reversed(before):
            value = _call_user(f, value)
        value = check(value)
        if ge is not None:
            value = _check_ge(value, ge)
        for f in after:
            value = _call_user(f, value)
        return value
    return run


def _validate_model(cls: type[_M], data: Any) -> _M:
    c = _compiled(cls)
    for f in c.before:
        data = _call_user(f, data)
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise _fail("model_type", f"Input should be a valid dictionary or instance of {cls.__name__}")
    errors: list[tuple[Loc, str, str]] = []
    values: dict[str, Any] = {}
    by_key = c.by_key
    for name, info in c.fields.items():
        key: str = name
        if info.alias is not None and info.alias in data:
            key = info.alias
        elif name not in data:
            if info.required:
                errors.append(((info.alias or name,), "missing", "Field required"))
            else:
                values[name] = info.get_default()
            continue
        value = data[key]
        if info.text and type(data) is TextMap and key in data.texts:
            value = data.texts[key]
        try:
            values[name] = info.validate(value)
        except _Invalid as e:
            errors.extend(_prefixed((key,), e))
    for key in data:
        if not isinstance(key, str):
            errors.append(((key,), "invalid_key", "Keys should be strings"))
        elif key not in by_key:
            errors.append(((key,), "extra_forbidden", "Extra inputs are not permitted"))
    if errors:
        raise _Invalid(errors)
    obj = object.__new__(cls)
    values.update(c.privates)
    object.__setattr__(obj, "__dict__", values)
    for f in c.after:
        obj = _call_user(f, obj)
    return obj


# --------------------------------------------------------------------------- type validators


def _identity(v: Any) -> Any:
    return v


_INT_TEXT = re.compile(r"^[+-]?[0-9]+(?:\.0*)?$")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _v_str(v: Any) -> str:
    if type(v) is str:
        return v
    if isinstance(v, str):
        return str(v.value) if isinstance(v, enum.Enum) else str(v)
    if isinstance(v, bytes | bytearray):
        try:
            return bytes(v).decode()
        except UnicodeDecodeError:
            raise _fail("string_unicode", "Input should be a valid string, unable to parse raw data as "
                        "a unicode string") from None
    raise _fail("string_type", "Input should be a valid string")


def _v_int(v: Any) -> int:
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        if v.is_integer():
            return int(v)
        if v != v or v in (float("inf"), float("-inf")):
            raise _fail("finite_number", "Input should be a finite number")
        raise _fail("int_from_float", "Input should be a valid integer, got a number with a fractional part")
    if isinstance(v, str):
        s = v.strip()
        if _INT_TEXT.match(s):
            return int(s.split(".")[0])
        raise _fail("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
    raise _fail("int_type", "Input should be a valid integer")


def _v_float(v: Any) -> float:
    if isinstance(v, float | int):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            raise _fail("float_parsing", "Input should be a valid number, unable to parse string as a "
                        "number") from None
    raise _fail("float_type", "Input should be a valid number")


def _v_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        if v == 1:
            return True
        if v == 0:
            return False
        if isinstance(v, float):
            raise _fail("bool_type", "Input should be a valid boolean")
        raise _fail("bool_parsing", "Input should be a valid boolean, unable to interpret input")
    if isinstance(v, str):
        low = v.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _fail("bool_parsing", "Input should be a valid boolean, unable to interpret input")
    raise _fail("bool_type", "Input should be a valid boolean")


def _v_none(v: Any) -> None:
    if v is not None:
        raise _fail("none_required", "Input should be None")


def _expected(values: list[Any]) -> str:
    shown = [repr(v) for v in values]
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def _check_ge(v: Any, ge: int) -> Any:
    if v < ge:
        raise _fail("greater_than_equal", f"Input should be greater than or equal to {ge}")
    return v


_PRIMITIVES: dict[Any, Callable[[Any], Any]] = {
    str: _v_str, int: _v_int, float: _v_float, bool: _v_bool, type(None): _v_none, None: _v_none,
    Any: _identity, object: _identity,
}


def _wants_text(tp: Any) -> bool:
    """Whether a YAML scalar for ``tp`` should arrive as its source text (Go's rule for strings).

    True for ``str``, types that read text (``__config_text__``, e.g. ``Secret``), and
    ``Optional``/``Annotated`` forms of them; a union with a non-text type keeps the value.
    """
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _wants_text(typing.get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return bool(args) and all(_wants_text(a) for a in args)
    return tp is str or bool(getattr(tp, "__config_text__", False))


def _type_validator(tp: Any) -> Callable[[Any], Any]:
    """A function checking and converting one value of annotation ``tp`` (raises ``_Invalid``)."""
    prim = _PRIMITIVES.get(tp)
    if prim is not None:
        return prim
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _annotated_validator(args[0], tp.__metadata__)
    if origin is Union or origin is types.UnionType:
        return _union_validator(args)
    if origin is Literal:
        return _literal_validator(list(args))
    if origin is tuple:
        return _tuple_validator(args)
    if origin is list:
        return _list_validator(_type_validator(args[0]) if args else _identity,
                               bool(args) and _wants_text(args[0]))
    if origin is dict:
        return _dict_validator(_type_validator(args[0]) if args else _identity,
                               _type_validator(args[1]) if args else _identity,
                               len(args) == 2 and _wants_text(args[1]))
    if isinstance(tp, type):
        if issubclass(tp, Model):
            model = tp
            return lambda v: _validate_model(model, v)
        if issubclass(tp, enum.Enum):
            return _enum_validator(tp)
        hook = getattr(tp, "__config_validate__", None)
        if hook is not None:
            return lambda v: _call_user(hook, v)
        return _instance_validator(tp)
    raise TypeError(f"config schema: unsupported annotation {tp!r}")


def _annotated_validator(base: Any, metadata: tuple[Any, ...]) -> Callable[[Any], Any]:
    check = _type_validator(base)
    befores = [m.func for m in metadata if isinstance(m, BeforeValidator)]
    ges = [m.ge for m in metadata if isinstance(m, Ge)]

    def run(value: Any) -> Any:
        for f in reversed(befores):
            value = _call_user(f, value)
        value = check(value)
        for ge in ges:
            value = _check_ge(value, ge)
        return value
    return run


def _union_validator(args: tuple[Any, ...]) -> Callable[[Any], Any]:
    members = [a for a in args if a is not type(None)]
    nullable = len(members) != len(args)
    checks = [_type_validator(a) for a in members]
    if len(checks) == 1:
        only = checks[0]

        def optional(v: Any) -> Any:
            return None if v is None else only(v)
        return optional

    def run(v: Any) -> Any:
        if v is None and nullable:
            return None
        errors: list[tuple[Loc, str, str]] = []
        for check in checks:
            try:
                return check(v)
            except _Invalid as e:
                errors.extend(e.errors)
        raise _Invalid(errors)
    return run


def _literal_validator(allowed: list[Any]) -> Callable[[Any], Any]:
    msg = f"Input should be {_expected(allowed)}"

    def run(v: Any) -> Any:
        for a in allowed:
            if type(v) is type(a) and v == a:
                return a
        raise _fail("literal_error", msg)
    return run


def _enum_validator(tp: type[enum.Enum]) -> Callable[[Any], Any]:
    msg = f"Input should be {_expected([m.value for m in tp])}"

    def run(v: Any) -> Any:
        if isinstance(v, tp):
            return v
        try:
            return tp(v)
        except ValueError:
            raise _fail("enum", msg) from None
    return run


def _instance_validator(tp: type) -> Callable[[Any], Any]:
    msg = f"Input should be an instance of {tp.__name__}"

    def run(v: Any) -> Any:
        if isinstance(v, tp):
            return v
        raise _fail("is_instance_of", msg)
    return run


_SEQUENCES = (list, tuple, set, frozenset)


def _items(v: Any, check: Callable[[Any], Any], text: bool = False) -> list[Any]:
    out: list[Any] = []
    errors: list[tuple[Loc, str, str]] = []
    texts = v.texts if text and type(v) is TextList else None
    for i, item in enumerate(v):
        if texts is not None and i in texts:
            item = texts[i]
        try:
            out.append(check(item))
        except _Invalid as e:
            errors.extend(_prefixed((i,), e))
    if errors:
        raise _Invalid(errors)
    return out


def _list_validator(check: Callable[[Any], Any], text: bool = False) -> Callable[[Any], Any]:
    def run(v: Any) -> Any:
        if not isinstance(v, _SEQUENCES):
            raise _fail("list_type", "Input should be a valid list")
        return _items(v, check, text)
    return run


def _tuple_validator(args: tuple[Any, ...]) -> Callable[[Any], Any]:
    if len(args) == 2 and args[1] is Ellipsis:
        item = _type_validator(args[0])

        def variadic(v: Any) -> Any:
            if not isinstance(v, _SEQUENCES):
                raise _fail("tuple_type", "Input should be a valid tuple")
            return tuple(_items(v, item))
        return variadic
    checks = [_type_validator(a) for a in args]

    def fixed(v: Any) -> Any:
        if not isinstance(v, _SEQUENCES):
            raise _fail("tuple_type", "Input should be a valid tuple")
        items = list(v)
        if len(items) > len(checks):
            raise _fail("too_long", f"Tuple should have at most {len(checks)} item"
                        f"{'s' if len(checks) != 1 else ''} after validation, not {len(items)}")
        out: list[Any] = []
        errors: list[tuple[Loc, str, str]] = []
        for i, check in enumerate(checks):
            if i >= len(items):
                errors.append(((i,), "missing", "Field required"))
                continue
            try:
                out.append(check(items[i]))
            except _Invalid as e:
                errors.extend(_prefixed((i,), e))
        if errors:
            raise _Invalid(errors)
        return tuple(out)
    return fixed


def _dict_validator(key: Callable[[Any], Any], value: Callable[[Any], Any],
                    text: bool = False) -> Callable[[Any], Any]:
    def run(v: Any) -> Any:
        if not isinstance(v, dict):
            raise _fail("dict_type", "Input should be a valid dictionary")
        out: dict[Any, Any] = {}
        errors: list[tuple[Loc, str, str]] = []
        texts = v.texts if text and type(v) is TextMap else None
        for k, item in v.items():
            if texts is not None and k in texts:
                item = texts[k]
            ok = True
            try:
                nk = key(k)
            except _Invalid as e:
                errors.extend(_prefixed((k, "[key]"), e))
                ok = False
            try:
                nv = value(item)
            except _Invalid as e:
                errors.extend(_prefixed((k,), e))
                ok = False
            if ok:
                out[nk] = nv
        if errors:
            raise _Invalid(errors)
        return out
    return run


# --------------------------------------------------------------------------- dumping


class _DumpOptions:
    __slots__ = ("by_alias", "exclude_defaults", "exclude_none", "json")

    def __init__(self, json: bool, by_alias: bool, exclude_none: bool, exclude_defaults: bool) -> None:
        self.json = json
        self.by_alias = by_alias
        self.exclude_none = exclude_none
        self.exclude_defaults = exclude_defaults


def _dump_model(obj: Model, opts: _DumpOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    d = obj.__dict__
    for name, info in _compiled(type(obj)).fields.items():
        if info.exclude:
            continue
        value = d.get(name)
        if value is None and opts.exclude_none:
            continue
        if opts.exclude_defaults and not info.required and value == info.get_default():
            continue
        out[(info.alias or name) if opts.by_alias else name] = info.dump(value, opts)
    return out


def _dump_any(v: Any, opts: _DumpOptions) -> Any:
    """Values whose annotation says nothing more (``Any``): plain data, converted for JSON."""
    if isinstance(v, Model):
        return _dump_model(v, opts)
    hook = getattr(type(v), "__config_dump__", None)
    if hook is not None:
        return hook(v)
    if isinstance(v, dict):
        return {(_json_key(k) if opts.json else k): _dump_any(x, opts) for k, x in v.items()}
    if isinstance(v, list | tuple):
        items = [_dump_any(x, opts) for x in v]
        return items if opts.json or isinstance(v, list) else tuple(items)
    if opts.json:
        if isinstance(v, enum.Enum):
            return v.value
        if isinstance(v, datetime.date | datetime.time):
            return v.isoformat()
    return v


def _json_key(k: Any) -> str:
    if isinstance(k, bool):
        return "true" if k else "false"
    return k if isinstance(k, str) else str(_dump_any(k, _DumpOptions(True, False, False, False)))


def _type_dumper(tp: Any) -> Callable[[Any, _DumpOptions], Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        sers = [m.func for m in tp.__metadata__ if isinstance(m, PlainSerializer)]
        if sers:
            ser = sers[-1]
            return lambda v, opts: None if v is None else ser(v)
        return _type_dumper(args[0])
    if origin is Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            inner = _type_dumper(members[0])
            return lambda v, opts: None if v is None else inner(v, opts)
        return _dump_any
    if origin in (list, tuple) and args:
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return _dump_any
        item = _type_dumper(args[0])

        def seq(v: Any, opts: _DumpOptions) -> Any:
            if v is None:
                return None
            items = [item(x, opts) for x in v]
            return items if opts.json or isinstance(v, list) else tuple(items)
        return seq
    if origin is dict and args:
        val = _type_dumper(args[1])

        def mapping(v: Any, opts: _DumpOptions) -> Any:
            if v is None:
                return None
            return {k: val(x, opts) for k, x in v.items()}
        return mapping
    return _dump_any
