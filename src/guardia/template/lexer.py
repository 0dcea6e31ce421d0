"""Tokens of Go's text/template: text between actions, and the items inside ``{{ }}``.

Trim markers (``{{- `` and `` -}}``) are applied here, as Go's lexer does, so the parser
only ever sees already-trimmed text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from guardia.template.errors import TemplateError

_SPACE = " \t\r\n"
KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil",
            "template", "with"}


class T(Enum):
    TEXT = auto()
    LEFT = auto()
    RIGHT = auto()
    SPACE = auto()
    IDENT = auto()  # function name
    KEYWORD = auto()
    BOOL = auto()
    NUMBER = auto()
    STRING = auto()
    RAWSTRING = auto()
    CHAR = auto()
    FIELD = auto()  # .Name
    VARIABLE = auto()  # $ or $name
    DOT = auto()
    LPAREN = auto()
    RPAREN = auto()
    PIPE = auto()
    DECLARE = auto()
    ASSIGN = auto()
    COMMA = auto()
    COMMENT = auto()
    ERROR = auto()  # a lexing error, raised when the parser reaches it (as Go does)
    OTHER = auto()  # any other printable character; the parser reports it in context
    EOF = auto()


@dataclass(frozen=True, slots=True)
class Token:
    kind: T
    text: str
    pos: int
    line: int


class Lexer:
    """Turns template text into tokens; raises TemplateError on malformed input."""

    def __init__(self, text: str, name: str, left: str = "{{", right: str = "}}") -> None:
        self.text = text
        self.name = name
        self.left = left
        self.right = right
        self.tokens: list[Token] = []
        self.error: TemplateError | None = None

    def _line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def _err(self, pos: int, msg: str) -> TemplateError:
        line = self._line(pos)
        return TemplateError(f"template: {self.name}:{line}: {msg}", name=self.name,
                             line=line, col=pos - (self.text.rfind("\n", 0, pos) + 1),
                             detail=msg)

    def _emit(self, kind: T, text: str, pos: int) -> None:
        self.tokens.append(Token(kind, text, pos, self._line(pos)))

    def run(self) -> list[Token]:
        """All tokens; a lexing error ends the list with an ERROR token (see ``error``)."""
        try:
            return self._run()
        except TemplateError as e:
            self.error = e
            self.tokens.append(Token(T.ERROR, e.detail, len(self.text), e.line))
            return self.tokens

    def _run(self) -> list[Token]:
        text = self.text
        pos = 0
        trim_next = False
        n = len(text)
        while True:
            start = text.find(self.left, pos)
            end = n if start < 0 else start
            chunk = text[pos:end]
            if trim_next:
                stripped = chunk.lstrip(_SPACE)
                pos += len(chunk) - len(stripped)
                chunk = stripped
                trim_next = False
            if start >= 0:
                after = start + len(self.left)
                left_trim = (text.startswith("-", after) and after + 1 < n
                             and text[after + 1] in _SPACE)
                if left_trim:
                    chunk = chunk.rstrip(_SPACE)
            else:
                left_trim = False
            if chunk:
                self._emit(T.TEXT, chunk, pos)
            if start < 0:
                self._emit(T.EOF, "", n)
                return self.tokens
            inner = start + len(self.left) + (2 if left_trim else 0)
            pos, trim_next = self._action(start, inner)

    def _at_right(self, pos: int) -> tuple[bool, bool]:
        """(is a right delimiter here, with trim marker)."""
        text = self.text
        if (text[pos:pos + 1] in (" ", "\t", "\r", "\n") and text.startswith("-", pos + 1)
                and text.startswith(self.right, pos + 2)):
            return True, True
        if text.startswith(self.right, pos):
            return True, False
        return False, False

    def _action(self, start: int, pos: int) -> tuple[int, bool]:
        text = self.text
        n = len(text)
        # comment
        if text.startswith("/*", pos):
            close = text.find("*/", pos + 2)
            if close < 0:
                raise self._err(start, "unclosed comment")
            after = close + 2
            is_right, trim = self._at_right(after)
            if not is_right:
                raise self._err(start, "comment ends before closing delimiter")
            self._emit(T.COMMENT, text[pos:after], pos)
            return after + (2 if trim else 0) + len(self.right), trim
        self._emit(T.LEFT, self.left, start)
        paren = 0
        while True:
            is_right, trim = self._at_right(pos)
            if is_right and paren <= 0:
                if trim:
                    pos += 2
                self._emit(T.RIGHT, self.right, pos)
                return pos + len(self.right), trim
            if pos >= n:
                raise self._err(start, "unclosed action")
            c = text[pos]
            if c in _SPACE:
                st = pos
                while pos < n and text[pos] in _SPACE and not self._at_right(pos)[1]:
                    pos += 1
                self._emit(T.SPACE, text[st:pos], st)
                continue
            if is_right and paren > 0:
                raise self._err(pos, "unclosed left paren")
            if c == "=":
                self._emit(T.ASSIGN, "=", pos)
                pos += 1
            elif c == ":":
                if not text.startswith(":=", pos):
                    raise self._err(pos, "expected :=")
                self._emit(T.DECLARE, ":=", pos)
                pos += 2
            elif c == "|":
                self._emit(T.PIPE, "|", pos)
                pos += 1
            elif c == ",":
                self._emit(T.COMMA, ",", pos)
                pos += 1
            elif c == "(":
                paren += 1
                self._emit(T.LPAREN, "(", pos)
                pos += 1
            elif c == ")":
                paren -= 1
                self._emit(T.RPAREN, ")", pos)
                pos += 1
            elif c == '"':
                pos = self._quote(pos)
            elif c == "`":
                close = text.find("`", pos + 1)
                if close < 0:
                    raise self._err(pos, "unterminated raw quoted string")
                self._emit(T.RAWSTRING, text[pos:close + 1], pos)
                pos = close + 1
            elif c == "'":
                pos = self._char(pos)
            elif c == "$":
                st = pos
                pos += 1
                while pos < n and (text[pos].isalnum() or text[pos] == "_"):
                    pos += 1
                self._emit(T.VARIABLE, text[st:pos], st)
            elif c == ".":
                if pos + 1 < n and text[pos + 1].isdigit():
                    pos = self._number(pos)
                    continue
                st = pos
                pos += 1
                while pos < n and (text[pos].isalnum() or text[pos] == "_"):
                    pos += 1
                if pos == st + 1:
                    self._emit(T.DOT, ".", st)
                else:
                    self._emit(T.FIELD, text[st:pos], st)
            elif c.isdigit() or (c in "+-" and pos + 1 < n and (text[pos + 1].isdigit()
                                                                   or text[pos + 1] == ".")):
                pos = self._number(pos)
            elif c.isalpha() or c == "_":
                st = pos
                while pos < n and (text[pos].isalnum() or text[pos] == "_"):
                    pos += 1
                word = text[st:pos]
                if word in KEYWORDS:
                    self._emit(T.KEYWORD, word, st)
                elif word in ("true", "false"):
                    self._emit(T.BOOL, word, st)
                else:
                    self._emit(T.IDENT, word, st)
            elif c.isascii() and c.isprintable():
                self._emit(T.OTHER, c, pos)
                pos += 1
            else:
                raise self._err(pos, f"unrecognized character in action: {_unicode_name(c)}")

    def _quote(self, pos: int) -> int:
        text = self.text
        i = pos + 1
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self._err(pos, "unterminated quoted string")
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                break
            i += 1
        self._emit(T.STRING, text[pos:i + 1], pos)
        return i + 1

    def _char(self, pos: int) -> int:
        text = self.text
        i = pos + 1
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self._err(pos, "unterminated character constant")
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == "'":
                break
            i += 1
        self._emit(T.CHAR, text[pos:i + 1], pos)
        return i + 1

    def _number(self, pos: int) -> int:
        text = self.text
        n = len(text)
        i = pos
        if text[i] in "+-":
            i += 1
        digits = "0123456789_"
        if text.startswith(("0x", "0X"), i):
            i += 2
            digits = "0123456789abcdefABCDEF_"
        elif text.startswith(("0o", "0O"), i):
            i += 2
            digits = "01234567_"
        elif text.startswith(("0b", "0B"), i):
            i += 2
            digits = "01_"
        while i < n and text[i] in digits:
            i += 1
        if i < n and text[i] == ".":
            i += 1
            while i < n and text[i] in digits:
                i += 1
        if i < n and text[i] in ("eEpP" if "a" not in digits else "pP"):
            i += 1
            if i < n and text[i] in "+-":
                i += 1
            while i < n and text[i] in "0123456789_":
                i += 1
        if i < n and text[i] == "i":
            i += 1
        if i < n and (text[i].isalnum() or text[i] == "_"):
            raise self._err(pos, f'bad number syntax: "{text[pos:i + 1]}"')
        self._emit(T.NUMBER, text[pos:i], pos)
        return i


def _unicode_name(c: str) -> str:
    return f"U+{ord(c):04X}"
