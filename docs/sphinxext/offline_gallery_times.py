"""Keep sphinx-gallery's execution-times pages free of external scripts.

sphinx-gallery writes ``sg_execution_times.rst`` with a raw HTML block that
loads jQuery, DataTables and Bootstrap from CDNs to make its table sortable.
Offline, those requests fail and the page waits on them. This extension drops
that block as the page is read, so the times remain as a plain table.
"""

from __future__ import annotations


def strip_raw_html(text: str) -> str:
    """``text`` without its ``.. raw:: html`` directives (and their content)."""
    kept, skip_deeper_than = [], None
    for line in text.splitlines(keepends=True):
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None:
            if not line.strip() or indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        if line.strip() == ".. raw:: html":
            skip_deeper_than = indent
            continue
        kept.append(line)
    return "".join(kept)


def _on_source_read(app, docname: str, source: list[str]) -> None:
    if docname.rsplit("/", 1)[-1] == "sg_execution_times":
        source[0] = strip_raw_html(source[0])


def setup(app):
    app.connect("source-read", _on_source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
