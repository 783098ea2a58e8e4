"""Check that a built HTML site loads nothing from another host.

Usage, after the Sphinx build (``.ci/run`` runs it)::

    python docs/check_offline.py docs/_build/html

Every page must read the same without a network: scripts, stylesheets, fonts,
images and frames must come from the site itself. Links to other sites (``<a
href>``) are fine. Exits 1 and lists each external resource otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

# Attributes through which a page loads something, per tag. <link> counts
# unless it is only a hyperlink (rel="canonical", "next", ...).
_LOADING = {"script": "src", "img": "src", "iframe": "src", "embed": "src", "source": "src"}
_LINK_LOADS = {"stylesheet", "preload", "modulepreload", "icon", "prefetch"}
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", re.IGNORECASE)


def is_external(url: str) -> bool:
    """Whether ``url`` points to another host (``https://…``, ``//…``)."""
    return bool(_EXTERNAL.match(url.strip()))


class _Resources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[int, str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        url = attrs.get(_LOADING.get(tag, ""), "")
        if tag == "link" and set(attrs.get("rel", "").lower().split()) & _LINK_LOADS:
            url = attrs.get("href", "")
        if url and is_external(url):
            self.found.append((self.getpos()[0], tag, url))


def external_resources_in_html(html: str) -> list[tuple[int, str, str]]:
    """``(line, tag, url)`` for each resource ``html`` loads from another host."""
    parser = _Resources()
    parser.feed(html)
    parser.close()
    return parser.found


def external_resources_in_css(css: str) -> list[tuple[int, str, str]]:
    """``(line, "css", url)`` for each ``url(…)`` or ``@import`` of another host."""
    found = []
    for number, line in enumerate(css.splitlines(), start=1):
        found += [(number, "css", url) for url in _CSS_URL.findall(line) if is_external(url)]
    return found


def check_site(root: Path) -> list[str]:
    """One line per external resource in the HTML and CSS files under ``root``."""
    problems = []
    for path in sorted(root.rglob("*")):
        if path.suffix == ".html":
            found = external_resources_in_html(path.read_text(encoding="utf-8"))
        elif path.suffix == ".css":
            found = external_resources_in_css(path.read_text(encoding="utf-8"))
        else:
            continue
        rel = path.relative_to(root)
        problems += [f"{rel}:{line}: <{tag}> loads {url}" for line, tag, url in found]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built HTML folder, e.g. docs/_build/html")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        parser.error(f"{args.site} has no index.html; build the documentation first")
    problems = check_site(args.site)
    for line in problems:
        print(line)
    n_pages = sum(1 for _ in args.site.rglob("*.html"))
    if problems:
        print(f"{len(problems)} external resources in {args.site}: the pages need a network.")
        return 1
    print(f"{n_pages} pages under {args.site} load nothing from another host.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
