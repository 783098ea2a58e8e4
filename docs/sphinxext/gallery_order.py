"""Order of the examples in the gallery: from first contact to comparisons.

sphinx-gallery sorts examples by file name or size by default; a reader is
better served by the order a course would take. Examples not listed here come
last, sorted by file name, so a new example never breaks the build.
"""

ORDER = [
    "plot_quickstart.py",
    "plot_xor.py",
    "plot_decision_boundaries.py",
    "plot_optimizers.py",
    "plot_loss_curves.py",
    "plot_regression_uncertainty.py",
    "plot_grid_search.py",
    "plot_column_transformer.py",
    "plot_raw_frames.py",
    "plot_device.py",
    "plot_dask_search.py",
    "plot_compare_sklearn.py",
]


class ExampleOrder:
    """Sort key for ``within_subsection_order`` in ``sphinx_gallery_conf``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in ORDER:
            return (ORDER.index(filename), filename)
        return (len(ORDER), filename)

    def __repr__(self):
        # sphinx-gallery hashes the configuration to decide whether to rebuild;
        # a stable repr keeps incremental builds incremental.
        return f"<{type(self).__name__}>"
