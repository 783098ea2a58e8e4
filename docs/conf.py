"""Sphinx configuration for the sk_mlp documentation.

Build (from the repository root, warnings are errors, every example runs):

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import sys
import zlib
from pathlib import Path

# Examples plot off-screen, in CI as on a laptop.
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import sk_mlp  # noqa: E402

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "sphinxext"))

# The gallery's models are tiny: torch's intra-op thread pool costs more than it
# saves on them, and on a busy 2-core CI machine two threads fighting other
# processes made a small fit 5-7 times slower than one thread. One thread keeps
# the whole gallery within a few minutes. NumPy's BLAS (used by scikit-learn's
# MLP in the comparison example) gets the same limit, so that fit times the
# examples report compare like with like; the examples say so.
torch.set_num_threads(1)
threadpool_limits(limits=1)

# -- Project -------------------------------------------------------------------
project = "sk_mlp"
author = "the sk_mlp developers"
copyright = "the sk_mlp developers"
release = sk_mlp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax served from the built site, not from a CDN: the pages read the
    # same offline (the package ships MathJax 3 and sets mathjax_path).
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "offline_gallery_times",
]

exclude_patterns = ["_build", "sg_execution_times.rst", "**/*.ipynb", "**/*.zip"]
templates_path = []
default_role = "literal"
nitpicky = False

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
_PAGE_TOC = ["page-toc", "sourcelink"]
html_title = f"sk_mlp {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
    # The examples' code is up to 100 columns wide: their pages give the
    # "On this page" column's width to the code instead. (A page matching two
    # patterns is a warning, hence no "**".)
    "secondary_sidebar_items": {
        "*": _PAGE_TOC,
        "api/*": _PAGE_TOC,
        "user_guide/*": _PAGE_TOC,
        "auto_examples/*": [],
    },
}
html_sidebars = {"index": [], "install": [], "benchmarks": [], "accuracy": []}
html_show_sourcelink = False
html_static_path = ["_static"]
html_css_files = ["custom.css"]
# "On this page" lists methods as fit(), not TorchMLPRegressor.fit(): the class
# name repeated on every line pushed the method names out of the column.
toc_object_entries_show_parents = "hide"

# -- API reference: autodoc + numpydoc -----------------------------------------
autodoc_default_options = {
    "members": True,
    "inherited-members": True,
    "member-order": "groupwise",
}
# Signatures carry 30 parameters already; types are in the numpydoc sections.
autodoc_typehints = "none"
autosummary_generate = False
# The Attributes section of each class lists the fitted attributes; a second
# generated table of members would repeat the method entries autodoc writes.
numpydoc_show_class_members = False
numpydoc_attributes_as_param_list = True

# -- Intersphinx ---------------------------------------------------------------
# Links to scikit-learn, PyTorch and NumPy, from small inventories written below
# rather than downloaded: CI reaches package registries only, and a build that
# tries the network first prints a ConnectionError per project before falling
# back. These inventories hold the objects these pages reference, with their
# real URLs, so the links work the same online and offline, and the build is
# the same everywhere. A reference to an object missing from them renders as
# plain text (nitpicky is off): add the object below to link it.
_INVENTORIES = {
    "sklearn": (
        "https://scikit-learn.org/stable/",
        "scikit-learn",
        [
            ("sklearn.neural_network.MLPClassifier", "py:class", "api"),
            ("sklearn.neural_network.MLPRegressor", "py:class", "api"),
            ("sklearn.pipeline.Pipeline", "py:class", "api"),
            ("sklearn.pipeline.make_pipeline", "py:function", "api"),
            ("sklearn.model_selection.GridSearchCV", "py:class", "api"),
            ("sklearn.model_selection.train_test_split", "py:function", "api"),
            ("sklearn.model_selection.cross_val_score", "py:function", "api"),
            ("sklearn.compose.ColumnTransformer", "py:class", "api"),
            ("sklearn.compose.make_column_transformer", "py:function", "api"),
            ("sklearn.compose.make_column_selector", "py:class", "api"),
            ("sklearn.preprocessing.OneHotEncoder", "py:class", "api"),
            ("sklearn.preprocessing.StandardScaler", "py:class", "api"),
            ("sklearn.impute.SimpleImputer", "py:class", "api"),
            ("sklearn.ensemble.HistGradientBoostingClassifier", "py:class", "api"),
            ("sklearn.inspection.DecisionBoundaryDisplay", "py:class", "api"),
            ("sklearn.linear_model.LogisticRegression", "py:class", "api"),
            ("sklearn.base.clone", "py:function", "api"),
            ("sklearn.callback.ProgressBar", "py:class", "api"),
            ("sklearn.callback.ScoringMonitor", "py:class", "api"),
            ("sklearn.datasets.load_breast_cancer", "py:function", "api"),
            ("sklearn.set_config", "py:function", "api"),
            ("sklearn.utils.metadata_routing.MetadataRequest", "py:class", "api"),
            ("sklearn.utils.estimator_checks.check_estimator", "py:function", "api"),
            ("metadata_routing", "std:label", "metadata_routing.html#metadata-routing"),
            ("model_persistence", "std:label", "model_persistence.html#model-persistence"),
            # Inherited score() docstrings refer to these two.
            ("accuracy_score", "std:label", "modules/model_evaluation.html#accuracy-score"),
            ("r2_score", "std:label", "modules/model_evaluation.html#r2-score"),
            ("meta-estimator", "std:term", "glossary.html#term-meta-estimator"),
            ("random_state", "std:term", "glossary.html#term-random_state"),
        ],
    ),
    "torch": (
        "https://docs.pytorch.org/docs/stable/",
        "PyTorch",
        [
            ("torch.nn.Module", "py:class", "api"),
            ("torch.nn.Linear", "py:class", "api"),
            ("torch.nn.Sequential", "py:class", "api"),
            ("torch.nn.GaussianNLLLoss", "py:class", "api"),
            ("torch.optim.Adam", "py:class", "api"),
            ("torch.optim.AdamW", "py:class", "api"),
            ("torch.optim.SGD", "py:class", "api"),
            ("torch.optim.LBFGS", "py:class", "api"),
            ("torch.device", "py:class", "tensor_attributes.html#torch.device"),
            ("torch.manual_seed", "py:function", "api"),
            ("torch.set_num_threads", "py:function", "api"),
            ("torch.get_num_threads", "py:function", "api"),
            ("torch.use_deterministic_algorithms", "py:function", "api"),
            ("torch.cuda.is_available", "py:function", "api"),
        ],
    ),
    "numpy": (
        "https://numpy.org/doc/stable/",
        "NumPy",
        [
            ("numpy.ndarray", "py:class", "api"),
            ("numpy.random.RandomState", "py:class", "api"),
        ],
    ),
}


def _write_inventory(name, project_name, entries):
    """Write a Sphinx v2 ``objects.inv`` with the given entries; return its path."""
    lines = []
    for obj, role, uri in entries:
        if uri == "api":  # the layout all three projects use for API pages
            prefix = "reference/generated/" if name == "numpy" else ""
            prefix = "modules/generated/" if name == "sklearn" else prefix
            prefix = "generated/" if name == "torch" else prefix
            uri = f"{prefix}{obj}.html#$"
        lines.append(f"{obj} {role} 1 {uri} -")
    header = (
        f"# Sphinx inventory version 2\n# Project: {project_name}\n# Version: \n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    path = DOCS / "_build" / "intersphinx" / f"{name}.inv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode() + zlib.compress(("\n".join(lines) + "\n").encode()))
    return str(path.relative_to(DOCS))


intersphinx_mapping = {
    name: (url, _write_inventory(name, project_name, entries))
    for name, (url, project_name, entries) in _INVENTORIES.items()
}

# -- Gallery -------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Every example runs during the build; one that raises fails the build.
    "filename_pattern": r"\.py$",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("sk_mlp",),
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "download_all_examples": False,
    "promote_jupyter_magic": False,
}
