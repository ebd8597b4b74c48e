"""An executed notebook as one self-contained HTML page that asks no outside host for anything.

nbconvert's ``lab`` template loads RequireJS, MathJax and Mermaid from cdnjs.cloudflare.com (and
widget managers from unpkg); a monitoring notebook needs none of them (its figures are PNGs, its
tables HTML), and a page served behind a firewall or under a strict CSP must not try. This
renders with a template that extends ``lab`` and empties those blocks; everything else (the
CSS, inlined) stays nbconvert's. Use it wherever a notebook becomes HTML: the dashboard renders
on the fly, a window run writes ``notebooks/<name>.html``. ``without_outside_scripts`` cleans
HTML nbconvert already wrote with its stock template (a run logged before this existed): it
drops the ``<script src="http...">`` tags and the Mermaid loader, nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["notebook_html", "without_outside_scripts"]

_TEMPLATE_NAME = "mlflow_monitor_offline.html.j2"
# the lab template without the blocks that fetch scripts from a CDN
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def notebook_html(path_or_nb: str | Path | Any) -> str:
    """The notebook (a path, or an ``nbformat`` node) as HTML with no outside script."""
    exporter = _exporter()
    if isinstance(path_or_nb, (str, Path)):
        body, _ = exporter.from_filename(str(path_or_nb))
    else:
        body, _ = exporter.from_notebook_node(path_or_nb)
    return str(body)


# a script element loaded from another host: RequireJS, MathJax, a widget manager
_OUTSIDE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']?(?:https?:)?//[^>]*>\s*</script>", re.I)
# nbconvert's Mermaid loader: an inline module that imports Mermaid from cdnjs
_MERMAID_LOADER = re.compile(
    r"<script type=\"module\">(?:(?!</script>).)*?mermaid\.esm(?:(?!</script>).)*</script>", re.S
)


def without_outside_scripts(html: str) -> str:
    """nbconvert's HTML without the scripts its stock template loads from a CDN."""
    return _MERMAID_LOADER.sub("", _OUTSIDE_SCRIPT.sub("", html))


def _exporter() -> Any:
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(  # type: ignore[no-untyped-call]
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        template_file=_TEMPLATE_NAME,
    )
