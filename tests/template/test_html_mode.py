"""HTML mode for notification bodies: actions are escaped, safeHtml output is not."""

from __future__ import annotations

from guardia.template import Template, alertmanager_funcs


def test_html_mode_escapes_output_except_safe_html() -> None:
    tmpl = Template(alertmanager_funcs(), escape_html=True).parse(
        '<b>{{ .x }}</b>{{ safeHtml .y }}{{ define "sub" }}<i>{{ . }}</i>{{ end }}'
        '{{ template "sub" .x }}', "t")
    assert tmpl.execute({"x": "<script>'&\"", "y": "<br>"}) == (
        "<b>&lt;script&gt;&#39;&amp;&#34;</b><br><i>&lt;script&gt;&#39;&amp;&#34;</i>")
