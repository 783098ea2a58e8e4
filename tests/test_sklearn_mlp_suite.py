"""scikit-learn's own MLP test module, run against sk_mlp with the import swapped.

The README promises that changing the import is enough. This module proves it
the way a maintainer would: it reads ``sklearn/neural_network/tests/test_mlp.py``
from the installed scikit-learn, replaces its import of ``MLPClassifier`` and
``MLPRegressor`` by sk_mlp's estimators, and hands every test in it to pytest.
Nothing of scikit-learn's code is copied here, so a new scikit-learn release
brings its new tests with it.

Every test that is expected to fail is listed once, in
:data:`EXPECTED_FAILURES`, with its reason; the migration guide
(docs/user_guide/from_sklearn.rst) explains each difference to users.
"""

import importlib.util
import types
from pathlib import Path

import pytest

_MODULE = "sklearn.neural_network.tests.test_mlp"
_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
_SWAPPED_IMPORT = (
    "from sk_mlp import TorchMLPClassifier as MLPClassifier, TorchMLPRegressor as MLPRegressor"
)

# Test id (or test name, for every parametrization of it) -> why it fails.
# A reason is one of: the test reaches into scikit-learn's private internals;
# sk_mlp trains in float32 by design; a documented, deliberate difference
# (docs/user_guide/from_sklearn.rst). The marks are strict: a listed test that
# starts passing fails the run, so the list cannot go stale.
EXPECTED_FAILURES: dict[str, str] = {}


def _swapped_module() -> types.ModuleType:
    """scikit-learn's MLP test module, executed with sk_mlp's estimators."""
    spec = importlib.util.find_spec(_MODULE)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{_MODULE} is not installed with scikit-learn.")
    source = Path(spec.origin).read_text(encoding="utf-8")
    if source.count(_IMPORT) != 1:
        # Fail loudly rather than run scikit-learn's own estimators.
        raise RuntimeError(f"{spec.origin} no longer contains the line {_IMPORT!r} once.")
    module = types.ModuleType(f"{__name__}._swapped", doc="test_mlp with sk_mlp's estimators")
    module.__file__ = spec.origin
    code = compile(source.replace(_IMPORT, _SWAPPED_IMPORT), spec.origin, "exec")
    exec(code, module.__dict__)
    return module


_swapped = _swapped_module()
globals().update(
    {name: value for name, value in vars(_swapped).items() if name.startswith("test_")}
)


@pytest.fixture
def global_random_seed():
    """scikit-learn's default for its ``global_random_seed`` fixture."""
    return 42


@pytest.fixture(autouse=True)
def _expected_failure(request):
    """Mark the tests of :data:`EXPECTED_FAILURES` as strict xfails."""
    node = request.node
    reason = EXPECTED_FAILURES.get(node.name) or EXPECTED_FAILURES.get(node.originalname)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
