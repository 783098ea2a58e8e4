"""
==================================================
Regression with uncertainty: Gaussian NLL vs MSE
==================================================

A model trained with the squared error predicts the conditional mean and
nothing else; the usual error bar around it is the spread of its residuals,
the same width everywhere. With ``loss='gaussian_nll'``,
:class:`~sk_mlp.TorchMLPRegressor` predicts a mean *and* a standard deviation
for every sample, by minimising the Gaussian negative log-likelihood

.. math::

   \\text{NLL}(y \\mid x) = \\frac{1}{2} \\log \\sigma^2(x)
       + \\frac{(y - \\mu(x))^2}{2 \\sigma^2(x)} + \\text{const},

so that its error bars can be narrow where the data are precise and wide where
they are noisy. ``predict(X, return_std=True)`` returns ``mu`` and ``sigma``;
``predict_interval(X, confidence=0.95)`` returns ``mu -/+ 1.96 sigma``.
"""

# %%
# Heteroscedastic data
# --------------------
# One input, a smooth mean, and noise whose standard deviation grows tenfold
# from left to right.
import numpy as np


def true_mean(x):
    return np.sin(x) + 0.3 * x


def true_std(x):
    return 0.05 + 0.15 * x


rng = np.random.RandomState(0)
x_train = rng.uniform(0, 6, size=600)
y_train = true_mean(x_train) + true_std(x_train) * rng.normal(size=x_train.size)
X_train = x_train.reshape(-1, 1)

# %%
# Two regressors
# --------------
# The same network (two hidden layers of 64 units) trained with each loss.
# For the squared-error model the band is the mean prediction plus or minus
# 1.96 times the standard deviation of its training residuals.
from sk_mlp import TorchMLPRegressor

params = dict(
    hidden_layer_sizes=(64, 64),
    learning_rate_init=0.005,
    max_iter=300,
    n_iter_no_change=30,
    random_state=0,
)
mse = TorchMLPRegressor(loss="squared_error", **params).fit(X_train, y_train)
gnll = TorchMLPRegressor(loss="gaussian_nll", **params).fit(X_train, y_train)

residual_std = np.std(y_train - mse.predict(X_train))
x_plot = np.linspace(0, 6, 300)
X_plot = x_plot.reshape(-1, 1)
mse_mean = mse.predict(X_plot)
gnll_mean, gnll_std = gnll.predict(X_plot, return_std=True)
gnll_lower, gnll_upper = gnll.predict_interval(X_plot, confidence=0.95)

# %%
# The bands
# ---------
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
truth_lower = true_mean(x_plot) - 1.96 * true_std(x_plot)
truth_upper = true_mean(x_plot) + 1.96 * true_std(x_plot)
mse_band = (mse_mean - 1.96 * residual_std, mse_mean + 1.96 * residual_std)
panels = [
    ("loss='squared_error'", mse_mean, mse_band, "mean ± 1.96 × residual std", "tab:red"),
    ("loss='gaussian_nll'", gnll_mean, (gnll_lower, gnll_upper), "predict_interval", "tab:blue"),
]
for ax, (title, mean, (lower, upper), band_label, color) in zip(axes, panels):
    ax.scatter(x_train, y_train, s=6, color="0.6", label="training data")
    ax.fill_between(x_plot, lower, upper, color=color, alpha=0.25, label=band_label)
    ax.plot(x_plot, mean, color=color, lw=2, label="predicted mean")
    ax.plot(x_plot, truth_lower, "k--", lw=1, label="true 95% interval")
    ax.plot(x_plot, truth_upper, "k--", lw=1)
    ax.set(title=title, xlabel="x")
    ax.legend(loc="upper left", fontsize="small")
axes[0].set_ylabel("y")
fig.tight_layout()

# %%
# The squared-error band has one width everywhere: too wide on the left, where
# the data are almost exact, and too narrow on the right, where they are not.
# The Gaussian NLL band follows the true 95% interval (dashed) as the noise
# grows.
#
# The predicted standard deviation
# --------------------------------
# ``predict(X, return_std=True)`` returns the standard deviation itself, in the
# units of ``y``. It tracks the true noise level; the squared-error model has
# only one number, the residual standard deviation.
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.plot(x_plot, true_std(x_plot), "k--", label="true noise std")
ax.plot(x_plot, gnll_std, color="tab:blue", lw=2, label="gaussian_nll: predicted std")
ax.axhline(residual_std, color="tab:red", lw=2, label="squared_error: residual std")
ax.set(xlabel="x", ylabel="standard deviation")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Coverage on new data
# --------------------
# A 95% interval should contain 95% of new observations, in every region of
# the input, not only on average. We draw fresh test data and count, on the
# quiet left third and the noisy right third.
x_test = rng.uniform(0, 6, size=3000)
y_test = true_mean(x_test) + true_std(x_test) * rng.normal(size=x_test.size)
X_test = x_test.reshape(-1, 1)

lower, upper = gnll.predict_interval(X_test, confidence=0.95)
inside_gnll = (lower <= y_test) & (y_test <= upper)
inside_mse = np.abs(y_test - mse.predict(X_test)) <= 1.96 * residual_std
for name, region in [("x < 2 (quiet)", x_test < 2), ("x > 4 (noisy)", x_test > 4)]:
    print(
        f"{name:>14}: squared_error band covers {inside_mse[region].mean():.0%}, "
        f"gaussian_nll band covers {inside_gnll[region].mean():.0%}"
    )
print(
    f"{'all x':>14}: squared_error band covers {inside_mse.mean():.0%}, "
    f"gaussian_nll band covers {inside_gnll.mean():.0%}"
)

# %%
# Both bands cover about 95% overall, but only the Gaussian NLL band does so
# everywhere: the constant band covers nearly everything where the noise is
# small and misses far more than 5% where it is large.
#
# .. note::
#    The Gaussian NLL model describes the noise in the data (aleatoric
#    uncertainty). It says nothing about the model's ignorance far from the
#    training data, where both models extrapolate with confidence.
