"""A set of named templates and their execution, with Go text/template semantics.

``Template(funcs).parse(text, name)`` adds the text's body and its ``{{define}}``s to the set;
``execute(data, name)`` renders one.  Field access ``.X`` looks for a method ``X`` first (as Go
does), then a dict key, then an attribute (or its snake_case spelling, so Python objects can
serve Go-named fields); methods are called, with the command's arguments.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from guardia.template.builtins import BUILTINS, SafeHTML, html_escape, truth, zero_for_map
from guardia.template.errors import TemplateError, TemplateFuncError
from guardia.template.gofmt import format_value, go_type_name
from guardia.template.parse import (
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableNode,
    parse_text,
)

MAX_DEPTH = 100
_MISSING: Any = object()
_SNAKE_RE = re.compile(r"(?<!^)(?=[A-Z])")


class ArgTypeError(TemplateFuncError):
    """A function got an argument of the wrong type (Go reports these without 'error calling')."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _ExecError(Exception):
    def __init__(self, node: Node, msg: str) -> None:
        super().__init__(msg)
        self.node = node
        self.msg = msg


_ARITY_CACHE: dict[Any, tuple[int, int | None]] = {}


def _arity(fn: Callable[..., Any]) -> tuple[int, int | None]:
    """(min, max or None for variadic) positional arguments; cached per code object, since
    function maps are rebuilt often (one per alert expansion) from the same closures."""
    code = getattr(fn, "__code__", None)
    key = ((code, len(getattr(fn, "__defaults__", None) or ()), inspect.ismethod(fn))
           if code is not None else fn)
    try:
        hit = _ARITY_CACHE.get(key)
    except TypeError:  # unhashable callable
        return _compute_arity(fn)
    if hit is None:
        hit = _ARITY_CACHE[key] = _compute_arity(fn)
    return hit


def _compute_arity(fn: Callable[..., Any]) -> tuple[int, int | None]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 0, None
    lo = 0
    hi: int | None = 0
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            assert hi is not None
            hi += 1
            if p.default is p.empty:
                lo += 1
        elif p.kind is p.VAR_POSITIONAL:
            hi = None
            break
    return lo, hi


class Template:
    """A set of templates sharing one function map (Go's ``*template.Template``)."""

    def __init__(self, funcs: Mapping[str, Callable[..., Any]] | None = None, *,
                 missingkey: str = "zero", escape_html: bool = False) -> None:
        self.funcs: dict[str, Callable[..., Any]] = dict(BUILTINS)
        if funcs:
            self.funcs.update(funcs)
        self._arity = {name: _arity(fn) for name, fn in self.funcs.items()}
        if missingkey not in ("zero", "default", "invalid", "error"):
            raise ValueError(f"unrecognized missingkey option {missingkey!r}")
        self.missingkey = missingkey
        # HTML mode (Alertmanager's email bodies use html/template): every action's output is
        # HTML-escaped unless it is SafeHTML.  Only the HTML-text context is handled, not
        # html/template's JS/CSS/URL attribute contexts.
        self.escape_html = escape_html
        self.name: str | None = None
        self.trees: dict[str, Tree] = {}

    def add_funcs(self, funcs: Mapping[str, Callable[..., Any]]) -> Template:
        self.funcs.update(funcs)
        self._arity.update({name: _arity(fn) for name, fn in funcs.items()})
        return self

    def parse(self, text: str, name: str = "") -> Template:
        """Parse ``text`` as template ``name`` (plus its {{define}}s); TemplateError on errors."""
        if self.name is None:
            self.name = name
        trees = parse_text(text, name, self.funcs)
        for tname, tree in trees.items():
            old = self.trees.get(tname)
            if old is not None and _empty(tree.root) and not _empty(old.root):
                continue
            self.trees[tname] = tree
        return self

    def has(self, name: str) -> bool:
        return name in self.trees

    def names(self) -> list[str]:
        return sorted(self.trees)

    def execute(self, data: Any, name: str | None = None) -> str:
        """Render template ``name`` (default: the first parsed) with ``data`` as dot."""
        target = self.name if name is None else name
        if target is None or target not in self.trees:
            if name is None:
                raise TemplateError(
                    f'template: {target or ""}: "{target or ""}" is an incomplete or empty '
                    "template", name=target or "")
            raise TemplateError(
                f'template: no template "{name}" associated with template "{self.name}"',
                name=name)
        tree = self.trees[target]
        state = _State(self, tree, data)
        try:
            state.walk(data, tree.root)
        except _ExecError as e:
            raise state.to_error(e) from None
        return "".join(state.out)


def _empty(root: ListNode) -> bool:
    return all(isinstance(n, TextNode) and not n.text.strip() for n in root.nodes)


class _State:
    def __init__(self, tmpl: Template, tree: Tree, data: Any, depth: int = 0) -> None:
        self.tmpl = tmpl
        self.tree = tree
        self.out: list[str] = []
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.depth = depth

    # --- errors
    def to_error(self, e: _ExecError) -> TemplateError:
        line, col = self.tree.location(e.node.pos)
        ctx = str(e.node)
        name = self.tree.name
        loc = f"{self.tree.parse_name}:{line}:{col}"
        return TemplateError(
            f'template: {loc}: executing "{name}" at <{ctx}>: {e.msg}',
            name=name, line=line, col=col, detail=e.msg)

    # --- variables
    def _var(self, node: Node, name: str) -> Any:
        for vname, value in reversed(self.vars):
            if vname == name:
                return value
        raise _ExecError(node, f"undefined variable: {name}")

    def _set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return

    # --- walking
    def walk(self, dot: Any, node: Node) -> None:
        if isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, BranchNode):
            if node.keyword == "range":
                self._range(dot, node)
            else:
                mark = len(self.vars)
                val = self._pipeline(dot, node.pipe)
                if truth(val):
                    self.walk(val if node.keyword == "with" else dot, node.list)
                elif node.else_list is not None:
                    self.walk(dot, node.else_list)
                del self.vars[mark:]
        elif isinstance(node, TemplateNode):
            self._template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue
        else:  # ActionNode
            pipe: PipeNode = node.pipe  # type: ignore[attr-defined]
            val = self._pipeline(dot, pipe)
            if not pipe.decl:
                text = self._printable(node, val)
                if self.tmpl.escape_html and not isinstance(val, SafeHTML):
                    text = html_escape(text)
                self.out.append(text)

    def _printable(self, node: Node, val: Any) -> str:
        if val is None:
            return "<no value>"
        if callable(val) and not hasattr(val, "__str__"):
            raise _ExecError(node, f"can't print {node} of type {go_type_name(val)}")
        return format_value(val)

    def _range(self, dot: Any, node: BranchNode) -> None:
        mark = len(self.vars)
        val = self._pipeline(dot, node.pipe)
        items: Iterable[tuple[Any, Any]]
        where: Node = node.pipe.cmds[-1].args[0] if node.pipe.cmds else node
        if val is None:
            items = []  # Go: an invalid value (nil map etc.) ranges over nothing
        elif isinstance(val, Mapping):
            items = [(k, val[k]) for k in sorted(val, key=_key_order)]
        elif isinstance(val, (bool, float)):
            raise _ExecError(where, f"range can't iterate over {format_value(val)}")
        elif isinstance(val, int):
            items = [(i, i) for i in range(val)]
        elif isinstance(val, str):
            raise _ExecError(where, f"range can't iterate over {val}")
        elif isinstance(val, Iterable):
            items = list(enumerate(val))
        else:
            raise _ExecError(where, f"range can't iterate over {format_value(val)}")
        items = list(items)
        if not items:
            del self.vars[mark:]
            if node.else_list is not None:
                self.walk(dot, node.else_list)
            return
        inner = len(self.vars)
        for k, elem in items:
            if node.pipe.decl:
                self.vars[mark:] = []
                if len(node.pipe.decl) == 1:
                    self.vars.append((node.pipe.decl[0].idents[0], elem))
                else:
                    self.vars.append((node.pipe.decl[0].idents[0], k))
                    self.vars.append((node.pipe.decl[1].idents[0], elem))
                inner = len(self.vars)
            try:
                self.walk(elem, node.list)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[inner:]
        del self.vars[mark:]

    def _template(self, dot: Any, node: TemplateNode) -> None:
        tree = self.tmpl.trees.get(node.name)
        if tree is None:
            raise _ExecError(node, f'template "{node.name}" not defined')
        if self.depth >= MAX_DEPTH:
            raise _ExecError(node, f"exceeded maximum template depth ({MAX_DEPTH})")
        new_dot = self._pipeline(dot, node.pipe) if node.pipe is not None else None
        sub = _State(self.tmpl, tree, new_dot, self.depth + 1)
        sub.out = self.out
        try:
            sub.walk(new_dot, tree.root)
        except _ExecError as e:
            # Errors inside another template carry that template's position.
            raise _Wrapped(sub.to_error(e)) from None

    # --- pipelines and commands
    def _pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self._command(dot, cmd, value)
        if value is _MISSING:
            value = None
        for v in pipe.decl:
            if pipe.is_assign:
                self._set_var(v.idents[0], value)
            else:
                self.vars.append((v.idents[0], value))
        return value

    def _command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self._field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, ChainNode):
            return self._chain(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self._function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self._not_a_function(cmd, cmd.args, final)
            mark = len(self.vars)
            v = self._pipeline(dot, first)
            del self.vars[mark:]
            return v
        if isinstance(first, VariableNode):
            return self._variable(dot, first, cmd.args, final)
        self._not_a_function(first, cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise _ExecError(first, "nil is not a command")
        if isinstance(first, NumberNode):
            return first.value
        if isinstance(first, StringNode):
            return first.value
        raise _ExecError(first, f"can't evaluate command {first}")

    def _not_a_function(self, node: Node, args: Sequence[Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise _ExecError(node, f"can't give argument to non-function {args[0]}")

    def _variable(self, dot: Any, node: VariableNode, args: Sequence[Node], final: Any) -> Any:
        value = self._var(node, node.idents[0])
        if len(node.idents) == 1:
            self._not_a_function(node, args, final)
            return value
        return self._field_chain(dot, value, node, node.idents[1:], args, final)

    def _chain(self, dot: Any, chain: ChainNode, args: Sequence[Node], final: Any) -> Any:
        if not chain.fields:
            raise _ExecError(chain, "internal error: no fields in evalChainNode")
        if isinstance(chain.node, NilNode):
            raise _ExecError(chain, f"indirection through explicit nil in {chain}")
        pipe = self._arg(dot, chain.node)
        return self._field_chain(dot, pipe, chain, chain.fields, args, final)

    def _field_chain(self, dot: Any, receiver: Any, node: Node, idents: Sequence[str],
                     args: Sequence[Node], final: Any) -> Any:
        for ident in idents[:-1]:
            receiver = self._field(dot, ident, node, [], _MISSING, receiver)
        return self._field(dot, idents[-1], node, args, final, receiver)

    def _field(self, dot: Any, name: str, node: Node, args: Sequence[Node], final: Any,
               receiver: Any) -> Any:
        if receiver is None:
            raise _ExecError(node, f"nil pointer evaluating interface {{}}.{name}")
        has_args = len(args) > 1 or final is not _MISSING
        method = _method(receiver, name)
        if method is not None:
            return self._call(dot, method, node, name, args, final)
        if isinstance(receiver, Mapping):
            if has_args:
                raise _ExecError(node, f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            mk = self.tmpl.missingkey
            if mk == "error":
                raise _ExecError(node, f'map has no entry for key "{name}"')
            if mk == "zero":
                return zero_for_map(receiver)
            return None
        if not name.startswith("_") and not isinstance(receiver, (str, int, float, list, tuple)):
            for attr in (name, _SNAKE_RE.sub("_", name).lower()):
                if hasattr(receiver, attr):
                    value = getattr(receiver, attr)
                    if has_args:
                        raise _ExecError(
                            node, f"{name} has arguments but cannot be invoked as function")
                    return value
        raise _ExecError(
            node, f"can't evaluate field {name} in type {go_type_name(receiver)}")

    def _function(self, dot: Any, node: IdentifierNode, cmd: Node, args: Sequence[Node],
                  final: Any) -> Any:
        fn = self.tmpl.funcs.get(node.name)
        if fn is None:
            raise _ExecError(node, f'"{node.name}" is not a defined function')
        if node.name in ("and", "or") and fn is BUILTINS[node.name]:
            return self._and_or(dot, node.name, cmd, args, final)
        return self._call(dot, fn, cmd, node.name, args, final, ident=node)

    def _and_or(self, dot: Any, name: str, cmd: Node, args: Sequence[Node], final: Any) -> Any:
        operands: list[Any] = [lambda n=n: self._arg(dot, n) for n in args[1:]]
        if final is not _MISSING:
            operands.append(lambda: final)
        if not operands:
            raise _ExecError(cmd, f"wrong number of args for {name}: want at least 1 got 0")
        val: Any = None
        for get in operands:
            val = get()
            if truth(val) == (name == "or"):
                return val
        return val

    def _call(self, dot: Any, fn: Callable[..., Any], node: Node, name: str,
              args: Sequence[Node], final: Any, ident: Node | None = None) -> Any:
        """Call ``fn``; arity errors point at ``ident`` (the name), failures at ``node``."""
        argv = [self._arg(dot, a) for a in args[1:]]
        if final is not _MISSING:
            argv.append(final)
        lo, hi = self.tmpl._arity.get(name, (None, None)) if fn is self.tmpl.funcs.get(
            name) else _arity(fn)
        if lo is not None:
            if hi is None and len(argv) < lo:
                raise _ExecError(
                    ident or node,
                    f"wrong number of args for {name}: want at least {lo} got {len(argv)}")
            if hi is not None and not lo <= len(argv) <= hi:
                raise _ExecError(
                    ident or node, f"wrong number of args for {name}: want {hi} got {len(argv)}")
        try:
            return fn(*argv)
        except ArgTypeError as e:
            raise _ExecError(node, str(e)) from None
        except (_ExecError, _Wrapped, _Break, _Continue):
            raise
        except RecursionError:
            raise _ExecError(node, f"error calling {name}: recursion too deep") from None
        except Exception as e:
            raise _ExecError(node, f"error calling {name}: {_err_text(e)}") from None

    def _arg(self, dot: Any, node: Node) -> Any:
        if isinstance(node, DotNode):
            return dot
        if isinstance(node, NilNode):
            return None
        if isinstance(node, FieldNode):
            return self._field_chain(dot, dot, node, node.idents, [node], _MISSING)
        if isinstance(node, VariableNode):
            return self._variable(dot, node, [node], _MISSING)
        if isinstance(node, PipeNode):
            mark = len(self.vars)
            v = self._pipeline(dot, node)
            del self.vars[mark:]
            return v
        if isinstance(node, IdentifierNode):
            return self._function(dot, node, node, [node], _MISSING)
        if isinstance(node, ChainNode):
            return self._chain(dot, node, [node], _MISSING)
        if isinstance(node, (BoolNode, NumberNode, StringNode)):
            return node.value
        raise _ExecError(node, f"can't handle {node} for arg")


class _Wrapped(Exception):
    """An error already positioned inside a nested template; passes through unchanged."""

    def __init__(self, err: TemplateError) -> None:
        super().__init__(err.message)
        self.err = err


def _err_text(e: Exception) -> str:
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    return str(e)


def _key_order(k: Any) -> Any:
    if isinstance(k, (int, float)) and not isinstance(k, bool):
        return (0, k, "")
    return (1, 0, str(k))


def _method(receiver: Any, name: str) -> Callable[..., Any] | None:
    """A Go-style exported method (capitalised name) defined on the receiver's class."""
    if not name[:1].isupper():
        return None
    attr = getattr(type(receiver), name, None)
    if attr is None or not callable(attr) or isinstance(attr, type):
        return None
    bound = getattr(receiver, name)
    return bound if callable(bound) else None


def _unwrap(f: Callable[..., str]) -> Callable[..., str]:
    def inner(self: Template, data: Any, name: str | None = None) -> str:
        try:
            return f(self, data, name)
        except _Wrapped as w:
            raise w.err from None
    return inner


Template.execute = _unwrap(Template.execute)  # type: ignore[method-assign]
