"""Parse tree of Go's text/template, built from the lexer's tokens.

The parser follows Go's grammar and error messages: variables must be declared before use,
functions must exist at parse time, ``{{else if}}`` chains, ``{{break}}``/``{{continue}}``
only inside ``{{range}}``, ``{{define}}`` only at top level.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

from guardia.model.gostrings import go_unescape
from guardia.template.errors import TemplateError
from guardia.template.lexer import Lexer, T, Token


@dataclass(slots=True)
class Node:
    pos: int


@dataclass(slots=True)
class TextNode(Node):
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(slots=True)
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass(slots=True)
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(slots=True)
class BoolNode(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(slots=True)
class NumberNode(Node):
    text: str
    value: int | float

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class StringNode(Node):
    quoted: str
    value: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(slots=True)
class FieldNode(Node):
    idents: list[str]

    def __str__(self) -> str:
        return "".join("." + i for i in self.idents)


@dataclass(slots=True)
class VariableNode(Node):
    idents: list[str]  # first is the variable name including "$"

    def __str__(self) -> str:
        return ".".join(self.idents)


@dataclass(slots=True)
class IdentifierNode(Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(slots=True)
class CommandNode(Node):
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        parts = []
        for a in self.args:
            parts.append(f"({a})" if isinstance(a, PipeNode) else str(a))
        return " ".join(parts)


@dataclass(slots=True)
class PipeNode(Node):
    decl: list[VariableNode] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        s = ""
        if self.decl:
            s = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


@dataclass(slots=True)
class ChainNode(Node):
    node: Node
    fields: list[str]

    def __str__(self) -> str:
        base = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return base + "".join("." + f for f in self.fields)


@dataclass(slots=True)
class ActionNode(Node):
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(slots=True)
class BranchNode(Node):
    keyword: str
    pipe: PipeNode
    list: ListNode
    else_list: ListNode | None

    def __str__(self) -> str:
        s = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            s += "{{else}}" + str(self.else_list)
        return s + "{{end}}"


@dataclass(slots=True)
class TemplateNode(Node):
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        q = '"' + self.name + '"'
        return "{{template " + q + (" " + str(self.pipe) if self.pipe else "") + "}}"


@dataclass(slots=True)
class BreakNode(Node):
    def __str__(self) -> str:
        return "{{break}}"


@dataclass(slots=True)
class ContinueNode(Node):
    def __str__(self) -> str:
        return "{{continue}}"


@dataclass(slots=True)
class Tree:
    """One named template: its body and the source it was parsed from (for positions)."""

    name: str
    parse_name: str
    root: ListNode
    text: str

    def location(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1)
        return line, col


_TERM_KINDS = {T.BOOL, T.CHAR, T.DOT, T.FIELD, T.IDENT, T.NUMBER, T.RAWSTRING, T.STRING,
               T.VARIABLE, T.LPAREN}


def unquote(tok: Token) -> str:
    """strconv.Unquote: Go escapes, where \\x and octal escapes are bytes of UTF-8 text."""
    if tok.kind is T.RAWSTRING:
        return tok.text[1:-1].replace("\r", "")
    return go_unescape(tok.text[1:-1])


def parse_number(tok: Token) -> int | float:
    text = tok.text
    if tok.kind is T.CHAR:
        return ord(ast.literal_eval(text))
    clean = text.replace("_", "")
    lower = clean.lower()
    if lower.endswith("i"):
        raise ValueError("complex constants are not supported")
    is_hex = lower.lstrip("+-").startswith("0x")
    if (not is_hex and any(c in lower for c in ".e")) or (is_hex and "p" in lower):
        return float.fromhex(clean) if is_hex else float(clean)
    body = lower.lstrip("+-")
    sign = -1 if lower.startswith("-") else 1
    if len(body) > 1 and body[0] == "0" and body[1].isdigit():
        return sign * int(body, 8)
    return sign * int(body, 0)


class Parser:
    """Parses one text into trees: the main body plus every {{define}} in it."""

    def __init__(self, text: str, name: str, has_func: Callable[[str], bool]) -> None:
        self.text = text
        self.name = name
        self.has_func = has_func
        lexer = Lexer(text, name)
        self.tokens = lexer.run()
        self.lex_error = lexer.error
        self.i = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.trees: dict[str, Tree] = {}

    # --- token helpers
    def _next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is T.ERROR and self.lex_error is not None:
            raise self.lex_error
        if tok.kind is not T.EOF:
            self.i += 1
        return tok

    def _peek(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is T.ERROR and self.lex_error is not None:
            raise self.lex_error
        return tok

    def _next_non_space(self) -> Token:
        tok = self._next()
        while tok.kind is T.SPACE:
            tok = self._next()
        return tok

    def _peek_non_space(self) -> Token:
        j = self.i
        while self.tokens[j].kind is T.SPACE:
            j += 1
        self.i = j
        if self.tokens[j].kind is T.ERROR and self.lex_error is not None:
            raise self.lex_error
        return self.tokens[j]

    def _error(self, tok: Token | int, msg: str) -> TemplateError:
        pos = tok.pos if isinstance(tok, Token) else tok
        line = tok.line if isinstance(tok, Token) else self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1)
        return TemplateError(f"template: {self.name}:{line}: {msg}", name=self.name, line=line,
                             col=col, detail=msg)

    def _unexpected(self, tok: Token, context: str) -> TemplateError:
        if tok.kind is T.EOF:
            return self._error(tok, "unexpected EOF")
        desc = tok.text if tok.kind is not T.RIGHT else "}}"
        if tok.kind is T.SPACE:
            desc = "space"
        return self._error(tok, f"unexpected {_describe(tok, desc)} in {context}")

    # --- top level
    def parse(self) -> dict[str, Tree]:
        root = ListNode(0)
        while True:
            tok = self._peek()
            if tok.kind is T.EOF:
                break
            if tok.kind is T.LEFT:
                j = self.i + 1
                while self.tokens[j].kind is T.SPACE:
                    j += 1
                if self.tokens[j].kind is T.KEYWORD and self.tokens[j].text == "define":
                    self.i = j + 1
                    self._definition()
                    continue
            node = self._text_or_action()
            if isinstance(node, _End):
                raise self._error(node.tok, f"unexpected {{{{{node.tok.text}}}}}")
            if node is not None:
                root.nodes.append(node)
        self._add(Tree(self.name, self.name, root, self.text))
        return self.trees

    def _add(self, tree: Tree) -> None:
        old = self.trees.get(tree.name)
        if old is not None and _is_empty(tree.root) and not _is_empty(old.root):
            return
        self.trees[tree.name] = tree

    def _definition(self) -> None:
        tok = self._next_non_space()
        if tok.kind not in (T.STRING, T.RAWSTRING):
            raise self._unexpected(tok, "define clause")
        name = unquote(tok)
        close = self._next_non_space()
        if close.kind is not T.RIGHT:
            raise self._unexpected(close, "define clause")
        saved = self.vars
        self.vars = ["$"]
        body, end = self._item_list()
        if end.text != "end":
            raise self._error(end, "unexpected {{else}}")
        self.vars = saved
        self._add(Tree(name, self.name, body, self.text))

    def _item_list(self) -> tuple[ListNode, Token]:
        lst = ListNode(self._peek().pos)
        while True:
            tok = self._peek()
            if tok.kind is T.EOF:
                raise self._error(tok, "unexpected EOF")
            node = self._text_or_action()
            if isinstance(node, _End):
                return lst, node.tok
            if node is not None:
                lst.nodes.append(node)

    def _text_or_action(self) -> Node | _End | None:
        tok = self._next()
        if tok.kind is T.TEXT:
            return TextNode(tok.pos, tok.text)
        if tok.kind is T.COMMENT:
            return None
        if tok.kind is T.LEFT:
            return self._action()
        raise self._unexpected(tok, "input")

    def _action(self) -> Node | _End:
        tok = self._next_non_space()
        if tok.kind is T.KEYWORD:
            kw = tok.text
            if kw == "end":
                close = self._next_non_space()
                if close.kind is not T.RIGHT:
                    raise self._unexpected(close, "end")
                return _End(tok)
            if kw == "else":
                return _End(tok)
            if kw == "if":
                return self._control("if", tok)
            if kw == "range":
                return self._control("range", tok)
            if kw == "with":
                return self._control("with", tok)
            if kw == "template":
                return self._template(tok)
            if kw == "block":
                return self._block(tok)
            if kw in ("break", "continue"):
                if self.range_depth == 0:
                    raise self._error(tok, f"{{{{{kw}}}}} outside {{{{range}}}}")
                close = self._next_non_space()
                if close.kind is not T.RIGHT:
                    raise self._unexpected(close, f"{{{{{kw}}}}}")
                return BreakNode(tok.pos) if kw == "break" else ContinueNode(tok.pos)
            if kw == "define":
                raise self._error(tok, "unexpected <define> in command")
        self.i -= 1
        pipe = self._pipeline("command", T.RIGHT)
        return ActionNode(tok.pos, pipe)

    def _control(self, kw: str, tok: Token) -> BranchNode:
        nvars = len(self.vars)
        pipe = self._pipeline(kw, T.RIGHT)
        if kw == "range":
            self.range_depth += 1
        body, end = self._item_list()
        if kw == "range":
            self.range_depth -= 1
        else_list: ListNode | None = None
        if end.text == "else":
            nxt = self._peek_non_space()
            if kw in ("if", "with") and nxt.kind is T.KEYWORD and nxt.text == kw:
                # {{else if ...}} is {{else}}{{if ...}}...{{end}}{{end}} with one shared end.
                self._next()
                inner = self._control(kw, nxt)
                else_list = ListNode(nxt.pos, [inner])
            else:
                close = self._next_non_space()
                if close.kind is not T.RIGHT:
                    raise self._error(close, f"expected end; found {close.text}")
                else_list, end2 = self._item_list()
                if end2.text != "end":
                    raise self._error(end2, "expected end; found {{else}}")
        else:
            pass
        self.vars = self.vars[:nvars]
        return BranchNode(tok.pos, kw, pipe, body, else_list)

    def _template(self, tok: Token) -> TemplateNode:
        name_tok = self._next_non_space()
        if name_tok.kind not in (T.STRING, T.RAWSTRING):
            raise self._unexpected(name_tok, "template clause")
        pipe: PipeNode | None = None
        if self._peek_non_space().kind is not T.RIGHT:
            pipe = self._pipeline("template clause", T.RIGHT)
        else:
            self._next()
        return TemplateNode(name_tok.pos, unquote(name_tok), pipe)

    def _block(self, tok: Token) -> TemplateNode:
        name_tok = self._next_non_space()
        if name_tok.kind not in (T.STRING, T.RAWSTRING):
            raise self._unexpected(name_tok, "block clause")
        name = unquote(name_tok)
        pipe = self._pipeline("block clause", T.RIGHT)
        saved = self.vars
        self.vars = ["$"]
        body, end = self._item_list()
        if end.text != "end":
            raise self._error(end, "unexpected {{else}}")
        self.vars = saved
        self._add(Tree(name, self.name, body, self.text))
        return TemplateNode(name_tok.pos, name, pipe)

    def _pipeline(self, context: str, end: T) -> PipeNode:
        start = self._peek_non_space()
        pipe = PipeNode(start.pos)
        while True:
            v = self._peek_non_space()
            if v.kind is not T.VARIABLE:
                break
            save = self.i
            self._next()
            nxt = self._peek_non_space()
            if nxt.kind in (T.DECLARE, T.ASSIGN):
                pipe.is_assign = nxt.kind is T.ASSIGN
                self._next()
                if pipe.is_assign and v.text not in self.vars:
                    raise self._error(v, f'undefined variable "{v.text}"')
                pipe.decl.append(VariableNode(v.pos, [v.text]))
                self.vars.append(v.text)
                break
            if nxt.kind is T.COMMA:
                self._next()
                pipe.decl.append(VariableNode(v.pos, [v.text]))
                self.vars.append(v.text)
                if context == "range" and len(pipe.decl) < 2:
                    if self._peek_non_space().kind in (T.VARIABLE, T.RIGHT, T.RPAREN):
                        continue
                    raise self._error(v, "range can only initialize variables")
                raise self._error(v, f"too many declarations in {context}")
            self.i = save
            break
        while True:
            tok = self._peek_non_space()
            if tok.kind is end:
                self._next()
                if not pipe.cmds:
                    raise self._error(tok, f"missing value for {context}")
                for k, cmd in enumerate(pipe.cmds[1:]):
                    if isinstance(cmd.args[0], (BoolNode, DotNode, NilNode, NumberNode,
                                                StringNode)):
                        raise self._error(
                            tok, f"non executable command in pipeline stage {k + 2}")
                return pipe
            if tok.kind in _TERM_KINDS or (tok.kind is T.KEYWORD and tok.text == "nil"):
                pipe.cmds.append(self._command())
                continue
            raise self._unexpected(tok, context)

    def _command(self) -> CommandNode:
        cmd = CommandNode(self._peek_non_space().pos)
        while True:
            self._peek_non_space()
            operand = self._operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self._next()
            if tok.kind is T.SPACE:
                continue
            if tok.kind in (T.RIGHT, T.RPAREN):
                self.i -= 1
            elif tok.kind is T.PIPE:
                pass
            else:
                raise self._unexpected(tok, "operand")
            break
        if not cmd.args:
            raise self._error(self._peek(), "empty command")
        return cmd

    def _operand(self) -> Node | None:
        node = self._term()
        if node is None:
            return None
        if self._peek().kind is T.FIELD:
            fields: list[str] = []
            chain_pos = self._peek().pos  # Go positions a chain at its first trailing field
            while self._peek().kind is T.FIELD:
                fields.append(self._next().text[1:])
            if isinstance(node, FieldNode):
                return FieldNode(chain_pos, node.idents + fields)
            if isinstance(node, VariableNode):
                return VariableNode(chain_pos, node.idents + fields)
            if isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
                raise self._error(node.pos, f"unexpected . after term {str(node)!r}")
            return ChainNode(chain_pos, node, fields)
        return node

    def _term(self) -> Node | None:
        tok = self._next_non_space()
        k = tok.kind
        if k is T.IDENT:
            if not self.has_func(tok.text):
                raise self._error(tok, f'function "{tok.text}" not defined')
            return IdentifierNode(tok.pos, tok.text)
        if k is T.DOT:
            return DotNode(tok.pos)
        if k is T.KEYWORD and tok.text == "nil":
            return NilNode(tok.pos)
        if k is T.VARIABLE:
            if tok.text not in self.vars:
                raise self._error(tok, f'undefined variable "{tok.text}"')
            return VariableNode(tok.pos, [tok.text])
        if k is T.FIELD:
            return FieldNode(tok.pos, [tok.text[1:]])
        if k is T.BOOL:
            return BoolNode(tok.pos, tok.text == "true")
        if k in (T.NUMBER, T.CHAR):
            try:
                return NumberNode(tok.pos, tok.text, parse_number(tok))
            except (ValueError, SyntaxError):
                raise self._error(tok, f"illegal number syntax: {tok.text!r}") from None
        if k is T.LPAREN:
            return self._pipeline("parenthesized pipeline", T.RPAREN)
        if k in (T.STRING, T.RAWSTRING):
            try:
                return StringNode(tok.pos, tok.text, unquote(tok))
            except (ValueError, SyntaxError):
                raise self._error(tok, f"invalid syntax: {tok.text}") from None
        self.i -= 1
        return None


@dataclass(slots=True)
class _End:
    """{{end}} or {{else}} seen while parsing a list."""

    tok: Token


def _describe(tok: Token, desc: str) -> str:
    """Go's item.String(): keywords in angle brackets, everything else quoted."""
    from guardia.model.gostrings import go_quote

    if tok.kind is T.KEYWORD:
        return f"<{desc}>"
    if len(desc) > 10:
        return go_quote(desc[:10]) + "..."
    return go_quote(desc)


def _is_empty(node: ListNode) -> bool:
    for n in node.nodes:
        if isinstance(n, TextNode):
            if n.text.strip():
                return False
        else:
            return False
    return True


def parse_text(text: str, name: str, funcs: Container[str]) -> dict[str, Tree]:
    return Parser(text, name, lambda f: f in funcs).parse()


__all__ = ["Any", "Parser", "Tree", "parse_text"]
