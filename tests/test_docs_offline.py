"""The documentation's offline checks: the script CI runs on the built site
(docs/check_offline.py) and the extension that strips sphinx-gallery's CDN
scripts (docs/sphinxext/offline_gallery_times.py), on small inputs."""

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_offline = _load(DOCS / "check_offline.py")
gallery_times = _load(DOCS / "sphinxext" / "offline_gallery_times.py")

PAGE = """<!DOCTYPE html>
<html><head>
<link rel="stylesheet" href="_static/styles/theme.css">
<script src="_static/mathjax/tex-chtml.js"></script>
<link rel="canonical" href="https://example.org/sk_mlp/">
{extra}
</head><body>
<a href="https://scikit-learn.org/stable/">scikit-learn</a>
<img src="_images/plot.png">
</body></html>
"""


def test_a_page_with_local_resources_and_outside_links_passes():
    assert check_offline.external_resources_in_html(PAGE.format(extra="")) == []


@pytest.mark.parametrize(
    "tag, url",
    [
        (
            '<script defer src="{}"></script>',
            "https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js",
        ),
        ('<link rel="stylesheet" href="{}">', "//cdn.example.org/bootstrap.min.css"),
        ('<link rel="preload" as="font" href="{}">', "http://fonts.example.org/a.woff2"),
        ('<img src="{}">', "https://example.org/badge.svg"),
        ('<iframe src="{}"></iframe>', "https://example.org/embed"),
    ],
)
def test_each_kind_of_external_resource_is_reported(tag, url):
    found = check_offline.external_resources_in_html(PAGE.format(extra=tag.format(url)))
    assert [found_url for _, _, found_url in found] == [url]


def test_external_urls_in_stylesheets_are_reported():
    css = 'body{font-family:x}\n@import "https://fonts.example.org/css";\na{background:url(img/a.png)}'
    assert check_offline.external_resources_in_css(css) == [
        (2, "css", "https://fonts.example.org/css")
    ]


def test_the_script_fails_on_a_site_that_needs_the_network(tmp_path, capsys):
    (tmp_path / "index.html").write_text(PAGE.format(extra=""))
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "page.html").write_text(
        PAGE.format(extra='<script src="https://code.jquery.com/jquery-3.7.0.js"></script>')
    )
    assert check_offline.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "api/page.html:6: <script> loads https://code.jquery.com/jquery-3.7.0.js" in out


def test_the_script_passes_a_site_that_reads_offline(tmp_path, capsys):
    (tmp_path / "index.html").write_text(PAGE.format(extra=""))
    assert check_offline.main([str(tmp_path)]) == 0
    assert "1 pages" in capsys.readouterr().out


def test_the_script_refuses_a_folder_without_a_built_site(tmp_path):
    with pytest.raises(SystemExit):
        check_offline.main([str(tmp_path)])


def test_gallery_times_page_keeps_its_table_without_the_cdn_scripts():
    source = """Computation times
=================

.. container::

  .. raw:: html

    <style scoped>
    <link href="https://cdn.example.org/bootstrap.min.css" rel="stylesheet" />
    </style>
    <script src="https://code.jquery.com/jquery-3.7.0.js"></script>

  .. list-table::
   :header-rows: 1

   * - Example
     - Time
"""
    stripped = gallery_times.strip_raw_html(source)
    assert "raw::" not in stripped and "https://" not in stripped
    assert ".. container::\n\n  .. list-table::\n   :header-rows: 1\n\n   * - Example" in stripped
