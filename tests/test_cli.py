"""The command line, ``python -m sk_mlp``: options, errors, and the demo."""

import subprocess
import sys

import pytest

import sk_mlp
from sk_mlp.__main__ import main


def test_help_describes_the_options_and_runs_no_demo(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--version", "--data", "--n-samples", "--n-features", "--device"):
        assert option in out
    assert "Fit times" not in out


def test_version_names_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"sk_mlp {sk_mlp.__version__} (torch ")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--data", "iris"], "invalid choice: 'iris'"),
        (["--data", "classification", "--n-samples", "0"], "expected a positive integer"),
        (["--n-samples", "100"], "add --data classification or --data regression"),
        (["--device", "cuda:99"], "not available on this machine"),
    ],
)
def test_bad_arguments_exit_with_a_usage_error(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Fit times" not in captured.out


def test_synthetic_data_set_has_the_size_asked_for(capsys):
    assert main(["--data", "classification", "--n-samples", "120", "--n-features", "5"]) == 0
    out = capsys.readouterr().out
    assert "make_classification (120 samples, 5 features" in out
    assert "TorchMLPClassifier" in out and "MLPClassifier" in out
    assert "diabetes" not in out


def test_data_option_picks_the_bundled_data_set(capsys):
    assert main(["--data", "diabetes"]) == 0
    out = capsys.readouterr().out
    assert "Regression, diabetes (442 samples, 10 features" in out
    assert "TorchMLPRegressor" in out and "Gaussian NLL regressor" in out
    assert "breast cancer" not in out


def test_module_entry_point_parses_its_arguments():
    result = subprocess.run(
        [sys.executable, "-m", "sk_mlp", "--version"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"sk_mlp {sk_mlp.__version__}")
