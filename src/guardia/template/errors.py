"""The one error type of the template language, worded as Go's text/template words it.

Prometheus puts the error text into the annotation when a template fails, and users search
for those messages, so they follow Go: ``template: NAME:LINE: message`` for parse errors and
``template: NAME:LINE:COL: executing "NAME" at <CONTEXT>: message`` for execution errors.
"""

from __future__ import annotations


class TemplateError(Exception):
    """A template that does not parse or fails while executing.

    ``line`` is 1-based; ``col`` is the 0-based byte offset in the line as Go reports it.
    """

    def __init__(self, message: str, *, name: str = "", line: int = 0, col: int = 0,
                 detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.line = line
        self.col = col
        self.detail = detail or message


class TemplateFuncError(Exception):
    """Raised by template functions; reported as ``error calling NAME: message``."""
