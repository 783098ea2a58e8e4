"""Parameter and attribute documentation shared by both estimators.

Both classes document the same constructor parameters; writing them once here
keeps the two docstrings from drifting apart. Each class docstring is a
template with ``{architecture}``, ``{training}`` and ``{torch}`` fields.
"""

ARCHITECTURE = """\
hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element represents the number of neurons in the ith hidden
        layer. An empty tuple fits a model with no hidden layer: a linear
        model of the network's input, through the loss's link (logistic,
        softmax, exp). With the default ``preprocessing='robust'`` that input
        is the scaled and smoothly clipped X, so predictions level off outside
        the range of the training data; with ``preprocessing=None`` it is X
        itself: linear or logistic regression.

    activation : {'relu', 'tanh', 'logistic', 'sigmoid', 'identity', 'gelu', \
'silu', 'leaky_relu', 'elu'}, default='relu'
        Activation function for the hidden layers. ``'sigmoid'`` is an alias of
        ``'logistic'``. Weights start from Glorot (Xavier) initialisation, as
        in scikit-learn.
"""

TRAINING = """\
solver : {'adam', 'adamw', 'sgd', 'lbfgs'}, default='adam'
        The solver for weight optimization.

        - 'adam': Adam (Kingma and Ba), in torch's fused implementation.
        - 'adamw': Adam with decoupled weight decay (Loshchilov and Hutter);
          ``alpha`` is then the decoupled decay rate.
        - 'sgd': stochastic gradient descent with ``momentum``.
        - 'lbfgs': full-batch L-BFGS with a strong-Wolfe line search; often
          best on small data sets.

    alpha : float, default=0.0001
        Strength of the L2 penalty on the connection weights (not the biases).
        As in scikit-learn, each mini-batch loss gets
        ``0.5 * alpha * ||W||^2 / batch_weight_sum``. For ``solver='adamw'``
        it is the decoupled weight decay instead. With ``n_ensemble > 1``,
        each member's output layer counts ``1 / n_ensemble`` in ``||W||^2``,
        as its loss does in the mean over members: every member is penalised
        as a single network would be.

    batch_size : int or 'auto', default='auto'
        Size of minibatches for stochastic optimizers.
        ``'auto'`` means ``min(200, n_samples)``. Ignored by ``'lbfgs'``.

    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine', \
'warmup_cosine'}, default='constant'
        Learning rate schedule, applied per epoch.

        - 'constant': ``learning_rate_init`` throughout.
        - 'invscaling': ``learning_rate_init / (t + 1) ** power_t`` with ``t``
          the number of samples seen, as in scikit-learn.
        - 'adaptive': divide the rate by 5 each time ``n_iter_no_change``
          epochs fail to improve by ``tol``; stop once it falls below 1e-6.
        - 'cosine': cosine annealing from ``learning_rate_init`` to 0 over
          ``max_iter`` epochs.
        - 'warmup_cosine': a linear warm-up from ``learning_rate_init / (w +
          1)`` to ``learning_rate_init`` over the first ``w`` epochs (5% of
          ``max_iter``, at least one), then cosine annealing to 0 at
          ``max_iter``. The warm-up keeps Adam's first, badly estimated steps
          small.

        The cosine schedules reach their end only if training runs
        ``max_iter`` epochs; the ``tol`` rule can stop it before (set
        ``n_iter_no_change=np.inf`` to follow the whole schedule).

        Unlike scikit-learn, where schedules apply to ``solver='sgd'`` only,
        they apply to every stochastic solver here.

    learning_rate_init : float, default=0.001
        The initial learning rate. Ignored by ``'lbfgs'``.

    power_t : float, default=0.5
        The exponent of the ``'invscaling'`` schedule.

    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations
        (``'lbfgs'``).
"""

TRAINING_MORE = """\
shuffle : bool, default=True
        Whether to shuffle samples in each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the early-stopping
        split. Pass an int for reproducible results across calls. Each fit
        draws from random generators of its own, never from torch's global
        ones, so concurrent fits in threads are independent; successive
        ``partial_fit`` and warm-start calls draw fresh shuffles and dropout
        masks, the same for the same sequence of calls. A ``module`` that
        draws random numbers itself draws them from torch's global
        generators, which such a fit seeds and restores, so those fits run
        one at a time.

    tol : float, default=1e-4
        Tolerance for the optimization. When the loss (or the validation
        score, with ``early_stopping``) does not improve by at least ``tol``
        for ``n_iter_no_change`` consecutive epochs, training stops. For
        ``'lbfgs'``, the gradient tolerance.

    verbose : int or bool, default=False
        Whether to print progress messages to stdout: scikit-learn's
        ``Iteration N, loss = ...`` line after every epoch (and, with early
        stopping, its ``Validation score: ...`` line). ``2`` shows a tqdm
        progress bar instead.

    warm_start : bool, default=False
        When True, reuse the solution of the previous call to fit as
        initialization; otherwise, erase the previous solution. A parameter
        that changes the network or the target encoding (``loss``,
        ``hidden_layer_sizes``, ``activation``, ``normalization``,
        ``n_ensemble``, ``numeric_embedding``, ``feature_scaling``,
        ``preprocessing``, ``module``) makes the next fit start from
        scratch; with ``early_stopping``, the starting weights are the score
        to beat on the new validation split.

    momentum : float, default=0.9
        Momentum for ``'sgd'``, between 0 and 1.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum with ``'sgd'`` and ``momentum > 0``.

    early_stopping : 'auto' or bool, default='auto'
        Whether to hold out ``validation_fraction`` of the training data and
        stop when the validation score has not improved by ``tol`` for
        ``n_iter_no_change`` epochs. The weights of the best epoch are
        restored at the end. Ignored by ``'lbfgs'``; ``partial_fit`` is not
        available with ``True``, as in scikit-learn. ``'auto'`` (after
        HistGradientBoosting's) turns it on for a ``fit`` on at least 1,000
        samples, where the held-out rows are enough to choose an epoch by,
        and off for smaller ones, for ``partial_fit`` and for streamed dask
        fits. scikit-learn's MLP has ``False``; the evidence for ``'auto'`` is
        in the tabular benchmark (:doc:`/tabular`).

    validation_fraction : float, default=0.1
        The proportion of training data to set aside as validation set for
        early stopping.

    beta_1 : float, default=0.9
        Exponential decay rate for estimates of first moment vector in adam
        and adamw, in [0, 1).

    beta_2 : float, default=0.999
        Exponential decay rate for estimates of second moment vector in adam
        and adamw, in [0, 1).

    epsilon : float, default=1e-8
        Value for numerical stability in adam and adamw.

    n_iter_no_change : int, default=10
        Maximum number of epochs without an improvement of ``tol``.

    max_fun : int, default=15000
        Maximum number of loss function calls for ``'lbfgs'``.
"""

TORCH = """\
dropout : float or 'auto', default='auto'
        Probability of zeroing a hidden unit during training, in [0, 1).
        ``'auto'`` is 0.1, chosen on the accuracy benchmark, where it keeps
        the smallest data sets from overfitting. It is 0 for
        ``solver='lbfgs'``, whose line search needs a deterministic loss, and
        for ``loss='gaussian_nll'``, whose variance head would otherwise learn
        the dropout noise as noise in y. Dropout makes the epoch loss noisy,
        so the ``tol`` test can stop training sooner than without it; set
        ``n_iter_no_change=np.inf`` to train for exactly ``max_iter`` epochs.
        ``dropout=0`` with ``preprocessing=None`` trains scikit-learn's
        network on scikit-learn's inputs.

    normalization : {'batch', 'layer'} or None, default=None
        Normalization layer after each hidden linear layer.

    n_ensemble : ENSEMBLE_TYPE
        Number of networks trained together as a parameter-efficient
        ensemble (BatchEnsemble, Wen et al., ICLR 2020, in the "mini" form of
        TabM, Gorishniy et al., ICLR 2025). Each member multiplies the input
        by a learned vector of its own (starting at random signs), shares
        the hidden layers with the others, and has its own output layer.
        The members' rows are stacked along the batch, so one fit trains all
        of them in one pass and the shared layers run one matrix product; the
        training loss (``loss_curve_``) is the mean of the members' losses.
        Predictions average the members' predictions: probabilities for a
        classifier, means for a regressor (with ``loss='gaussian_nll'``, the
        mean and variance of the members' equal mixture, which
        ``predict_interval`` and early stopping's NLL treat as a Gaussian's).
        Costs about ``n_ensemble`` times the hidden layers' work per step.ENSEMBLE_AUTO

    numeric_embedding : {'auto', 'piecewise_linear', 'periodic'} or None, \
default='auto'
        How the numeric features (not the categorical ones, nor missing
        indicators) enter the network, after ``preprocessing``:

        - 'auto': 'piecewise_linear' for dense X of at least 1,000 samples
          where early stopping is on (as ``early_stopping='auto'`` turns it
          on), else None. The encoding
          lets the network draw sharp thresholds in a feature, which pays on
          tables of 1,000 samples and more when the best epoch is kept, and
          overfits without it (:doc:`/tabular`).
        - None: as they are.
        - 'piecewise_linear': each feature becomes its piecewise-linear
          encoding over up to 16 bins at its quantiles in fit (sample weights
          counting as repetitions; Gorishniy et al., NeurIPS 2022): one input
          per bin, 0 below it, 1 above it, linear within it. Fixed once
          fitted, applied once to the training data; the first layer is 16
          times wider for those features.
        - 'periodic': each feature ``x`` becomes ``x`` and a learned linear map
          of ``cos(2 pi (w x + b))`` with 16 learned frequencies ``w`` and
          phases ``b``, to 3 values (after RealMLP's PBLD embeddings,
          Holzmüller et al., NeurIPS 2024). Trained through autograd.

        Both need dense X; both export with :func:`~sk_mlp.to_onnx`.
        The embedding is decided at the first fit: continued fits keep it.

    feature_scaling : bool, default=False
        Whether to learn a scale per network input, multiplied into the input
        before the first layer (starting at one), so that training can damp
        uninformative features and amplify useful ones (a RealMLP ingredient).

    preprocessing : {'robust'} or None, default='robust'
        Input treatment inside the model. ``'robust'`` centres each feature on
        its median, scales it by the smaller of its standard deviation and its
        median absolute deviation (as a robust standard deviation, which
        outliers cannot inflate) and smoothly clips outliers at about four
        such deviations; the statistics are fitted on the first call to ``fit``
        (a sparse matrix's implicit zeros count, so ``X`` and ``X.toarray()``
        give the same model, and sparse rows stay sparse). The clip bounds
        what any single value can do to the network, which helped on data
        with outliers (docs/accuracy.rst). ``None`` feeds X as given, as
        scikit-learn's MLP does.

    categorical_features : array-like of {bool, int, str}, 'from_dtype' or \
None, default='from_dtype'
        The categorical features of dense X, as in
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`:
        ``'from_dtype'`` marks a pandas DataFrame's ``category``, ``object``
        and string columns (none of a numpy array); otherwise a boolean mask,
        integer indices, or column names. Under array API dispatch, where X
        stays on its device without a frame stage, a mask or list that marks
        a column raises a ``ValueError``. A categorical feature with up to
        1000 categories seen in fit is one-hot encoded inside the model (on
        the benchmark one-hot beat learned embeddings at every cardinality
        tried, up to 304; docs/tabular.rst), one with more gets a learned
        embedding. A category not seen in fit, or a missing one, counts as
        "missing": a slot of its own if fit saw missing values there, all
        zeros otherwise. Missing numeric values (``NaN``, ``None``, ``pd.NA``)
        are replaced by the feature's median in fit, and a feature that had
        missing values in fit gets a 0/1 indicator input, so that
        "missing" can carry signal. Everything is learned on the first call
        to ``fit`` and kept by warm starts and ``partial_fit``. Sparse X is
        numeric and has no missing values. See :ref:`tabular-data` in the
        user guide.

    device : str or torch.device, default='cpu'
        Where the model trains and predicts: ``'cpu'``, ``'cuda'``,
        ``'cuda:N'``, ``'mps'``, or ``'auto'`` for the best one available
        (under array API dispatch, ``'auto'`` is the device of a torch X).

    precision : {'float32', 'bfloat16'}, default='float32'
        Arithmetic of training. ``'bfloat16'`` is mixed precision: the
        forward and backward passes run under ``torch.autocast`` in bfloat16
        (matrix products on a GPU's tensor cores), while the weights, the
        optimizer state and the loss stay float32. Faster on GPUs with
        bfloat16 units (NVIDIA Ampere and later), at a small cost in
        accuracy (:ref:`devices`); slower on most CPUs. Stochastic solvers
        only. Prediction is always float32.

    module : callable, torch.nn.Module or None, default=None
        A callable ``(n_features_in, n_outputs) -> torch.nn.Module`` that
        replaces the built network (``hidden_layer_sizes``, ``activation``,
        ``dropout``, ``normalization``, ``n_ensemble``, ``numeric_embedding``
        and ``feature_scaling`` are then ignored), or a module
        instance, which each fit copies (the instance itself is never
        trained). The estimator still owns data handling, the loss, training
        and the device; sparse X reaches the module densified. It must be
        picklable (a class or module-level function) for the estimator to
        pickle.
"""

FITTED = """\
loss_ : float or None
        The current loss computed with the loss function, penalty included;
        None if training was interrupted (Ctrl-C) before the first epoch
        ended. As in scikit-learn, a ``KeyboardInterrupt`` during training
        stops it with the warning "Training interrupted by user." and keeps
        the model trained so far (the best epoch's weights under
        ``early_stopping``).

    best_loss_ : float or None
        The minimum loss reached during fitting; None with early stopping,
        which selects on ``best_validation_score_`` instead.

    loss_curve_ : list of shape (`n_iter_`,)
        The loss at the end of each epoch.

    validation_scores_ : list of shape (`n_iter_`,) or None
        The score on the held-out validation set after each epoch; None
        without early stopping.

    best_validation_score_ : float or None
        The best validation score, whose weights were restored; None without
        early stopping.

    t_ : int
        The number of training samples seen by the solver during fitting.

    coefs_ : list of shape (n_layers - 1,)
        The ith element is a numpy copy of the weight matrix of the ith
        ``torch.nn.Linear`` layer, of shape (n_in, n_out) as in scikit-learn.
        With ``n_ensemble > 1`` the last holds the members' output layers,
        of shape (n_ensemble, n_in, n_out).

    intercepts_ : list of shape (n_layers - 1,)
        The ith element is a numpy copy of the bias vector of the ith layer;
        with ``n_ensemble > 1`` the last is of shape (n_ensemble, n_out).

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` has feature
        names that are all strings.

    is_categorical_ : ndarray of shape (`n_features_in_`,), dtype=bool or None
        Boolean mask of the categorical features; None if there are none.

    n_iter_ : int
        The number of epochs (or L-BFGS iterations) the solver has run in the
        last call to ``fit`` or ``partial_fit``, as in scikit-learn: a warm
        start counts its own epochs, and ``loss_curve_`` holds those of every
        call.

    n_layers_ : int
        Number of layers, input and output included.

    module_ : torch.nn.Module
        The trained network, input preprocessing included; it outputs raw
        scores (logits, means and variances) before the output link.

    device_ : str
        The device the model lives on, such as ``'cpu'`` or ``'cuda:0'``.
"""


# n_ensemble's default differs: 'auto' (eight members from 1,000 samples) for
# the regressor, one network for the classifier (sk_mlp/_engine/defaults.py).
_ENSEMBLE = {
    False: (
        "int or 'auto', default=1",
        """
        ``'auto'`` is one network for the classifier (members moved none of
        the 15 classification tables of the benchmark; the regressor's
        ``'auto'`` trains 8).""",
    ),
    True: (
        "int or 'auto', default='auto'",
        """
        ``'auto'`` trains 8 members with ``solver='adam'`` (one network
        with another solver or a user's ``module``):
        on the tabular benchmark the members won on 7 of 18 regression
        tables, of every size, and lost on none, at 2.5 to 12 times a single
        network's CPU time (:doc:`/tabular`).
        With more than one member, the last entries of ``coefs_`` and
        ``intercepts_`` have a leading member axis.""",
    ),
}


def fill(template: str, *, auto_ensemble: bool = False) -> str:
    """Insert the shared blocks into a class docstring template."""
    type_line, auto = _ENSEMBLE[auto_ensemble]
    torch = TORCH.replace("ENSEMBLE_TYPE", type_line).replace("ENSEMBLE_AUTO", auto)
    return template.format(
        architecture=ARCHITECTURE,
        training=TRAINING,
        training_more=TRAINING_MORE,
        torch=torch,
        fitted=FITTED,
    )
