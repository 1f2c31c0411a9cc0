"""Tests of softmax_nb.training (data split, softmax regression, MLP)."""

from __future__ import annotations

import numpy as np
import pytest

from softmax_nb import (
    DigitsSplit,
    MLPModel,
    SoftmaxRegressionModel,
    cross_entropy,
    expected_calibration_error,
    fit_temperature,
    load_digits_split,
    predict_logits,
    softmax,
    train_mlp,
    train_softmax_regression,
)

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def digits() -> DigitsSplit:
    return load_digits_split(seed=0)


def accuracy(model, X, y) -> float:
    return float(np.mean(predict_logits(model, X).argmax(axis=1) == y))


def test_split_shapes_scaling_and_stratification(digits):
    assert [a.shape[0] for a in digits] == [1077, 1077, 360, 360, 360, 360]
    assert digits.X_train.shape[1] == 64
    for X in (digits.X_train, digits.X_val, digits.X_test):
        assert X.dtype == np.float64 and X.min() >= 0.0 and X.max() <= 1.0
    counts = [np.bincount(y, minlength=10) for y in (digits.y_train, digits.y_val, digits.y_test)]
    assert all(c.min() >= 0.09 * c.sum() and c.max() <= 0.11 * c.sum() for c in counts)  # ~10% each
    again = load_digits_split(seed=0)
    for a, b in zip(digits, again):
        np.testing.assert_array_equal(a, b)
    other = load_digits_split(seed=1)
    assert not np.array_equal(digits.y_test, other.y_test)


def test_noisy_split_is_deterministic():
    a = load_digits_split(seed=0, noise=0.3)
    b = load_digits_split(seed=0, noise=0.3)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_train, load_digits_split(seed=0).y_train)  # same split, noisier pixels


def test_softmax_regression_matches_sklearn(digits):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    model = train_softmax_regression(digits.X_train, digits.y_train, 10, X_val=digits.X_val, y_val=digits.y_val)
    assert isinstance(model, SoftmaxRegressionModel)
    assert model.W.shape == (64, 10) and model.b.shape == (10,)
    ours = accuracy(model, digits.X_test, digits.y_test)
    with threadpool_limits(limits=1):  # a tiny problem: threads only slow it down
        ref = LogisticRegression(max_iter=5000).fit(digits.X_train, digits.y_train).score(digits.X_test,
                                                                                           digits.y_test)
    assert abs(ours - ref) <= 0.02
    h = model.history
    assert len(h.train_loss) == len(h.val_acc) == 100
    assert h.train_loss[-1] < h.train_loss[0]
    assert h.val_acc[-1] > 0.9
    np.testing.assert_allclose(h.train_nll[-1], cross_entropy(predict_logits(model, digits.X_train), digits.y_train))


def test_gradient_descent_decreases_loss_without_momentum(digits):
    model = train_softmax_regression(digits.X_train, digits.y_train, 10, epochs=15, lr=0.2, momentum=0.0,
                                     weight_decay=0.0)
    assert np.all(np.diff(model.history.train_loss) < 0)
    assert np.isnan(model.history.val_loss).all()  # no validation set given


def test_training_is_deterministic(digits):
    kw = dict(num_classes=10, epochs=3)
    a = train_mlp(digits.X_train, digits.y_train, seed=7, **kw)
    b = train_mlp(digits.X_train, digits.y_train, seed=7, **kw)
    c = train_mlp(digits.X_train, digits.y_train, seed=8, **kw)
    np.testing.assert_array_equal(a.W1, b.W1)
    np.testing.assert_array_equal(a.history.train_loss, b.history.train_loss)
    assert not np.array_equal(a.W1, c.W1)
    r1 = train_softmax_regression(digits.X_train, digits.y_train, 10, epochs=3, seed=1)
    r2 = train_softmax_regression(digits.X_train, digits.y_train, 10, epochs=3, seed=1)
    np.testing.assert_array_equal(r1.W, r2.W)


@pytest.mark.parametrize("kw", [dict(label_smoothing=0.1), dict(loss="focal", gamma=2.0), dict(weight_decay=1e-3)])
def test_softmax_regression_variants_train(digits, kw):
    model = train_softmax_regression(digits.X_train, digits.y_train, 10, epochs=20, X_val=digits.X_val,
                                     y_val=digits.y_val, **kw)
    assert model.history.val_acc[-1] > 0.9


def test_label_smoothing_lowers_confidence(digits):
    plain = train_softmax_regression(digits.X_train, digits.y_train, 10, epochs=30, weight_decay=0.0)
    smooth = train_softmax_regression(digits.X_train, digits.y_train, 10, epochs=30, weight_decay=0.0,
                                      label_smoothing=0.2)
    conf = [softmax(predict_logits(m, digits.X_test)).max(axis=1).mean() for m in (plain, smooth)]
    assert conf[1] < conf[0]


def test_mlp_backprop_matches_finite_differences():
    """One SGD step with lr = h along a single parameter recovers the analytic gradient."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 5))
    y = rng.integers(0, 3, size=12)
    for activation in ("tanh", "relu"):
        base = train_mlp(X, y, 3, hidden=4, activation=activation, epochs=1, lr=1e-3, batch_size=12, momentum=0.0)
        # The first (and only) step used the full batch: W_after = W0 - lr * grad. Recover W0 from the seed.
        init = np.random.default_rng(0)
        scale = (2.0 / 5) ** 0.5 if activation == "relu" else (2.0 / 9) ** 0.5
        W1_0 = init.normal(0.0, scale, (5, 4))
        scale2 = (2.0 / 4) ** 0.5 if activation == "relu" else (2.0 / 7) ** 0.5
        W2_0 = init.normal(0.0, scale2, (4, 3))
        grad_W1 = (W1_0 - base.W1) / 1e-3

        def loss(W1):
            h = np.tanh(X @ W1) if activation == "tanh" else np.maximum(X @ W1, 0)
            return float(cross_entropy(h @ W2_0, y))

        num = np.zeros_like(W1_0)
        for idx in np.ndindex(W1_0.shape):
            e = np.zeros_like(W1_0)
            e[idx] = 1e-6
            num[idx] = (loss(W1_0 + e) - loss(W1_0 - e)) / 2e-6
        np.testing.assert_allclose(grad_W1, num, rtol=1e-5, atol=1e-8)


def test_overconfident_mlp_is_fixed_by_temperature_scaling():
    d = load_digits_split(seed=0, noise=0.3)
    mlp = train_mlp(d.X_train, d.y_train, 10)
    assert isinstance(mlp, MLPModel)
    assert mlp.history.train_acc[-1] == 1.0  # memorised the training set
    z_val, z_test = predict_logits(mlp, d.X_val), predict_logits(mlp, d.X_test)
    t = fit_temperature(z_val, d.y_val)
    assert t > 1.5  # over-confident
    before = expected_calibration_error(softmax(z_test), d.y_test)
    after = expected_calibration_error(softmax(z_test / t), d.y_test)
    assert before > 0.08 and after < 0.6 * before
    assert cross_entropy(z_test / t, d.y_test) < cross_entropy(z_test, d.y_test)


@pytest.mark.parametrize("call, match", [
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 10, epochs=0), "epochs must be an integer >= 1"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 10, lr=0.0), "lr must be a finite number > 0"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 10, batch_size=0), "batch_size must be an integer"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 5), r"y must be in \[0, 5\)"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train[:-1], 10), r"y must have shape"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 10, loss="hinge"), "loss must be one of"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 10, loss="focal", label_smoothing=0.1),
     "label_smoothing must be 0 with loss='focal'"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 10, label_smoothing=2.0), "label_smoothing must be in"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 10, weight_decay=-1), "weight_decay must be"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 10, momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 10, X_val=d.X_val), "X_val and y_val must be given"),
    (lambda d: train_softmax_regression(d.X_train, d.y_train, 10, X_val=d.X_val[:, :5], y_val=d.y_val),
     "X_val must have 64 features"),
    (lambda d: train_mlp(d.X_train, d.y_train, 10, activation="gelu"), "activation must be one of"),
    (lambda d: train_mlp(d.X_train, d.y_train, 10, hidden=0), "hidden must be an integer >= 1"),
    (lambda d: train_mlp(np.full((2, 3), np.nan), [0, 1], 2), "X must .*finite"),
    (lambda d: load_digits_split(val_size=0.6, test_size=0.5), "val_size \\+ test_size must be < 1"),
    (lambda d: load_digits_split(test_size=1.0), r"test_size must be in \(0, 1\)"),
    (lambda d: load_digits_split(noise=-0.1), "noise must be a finite number >= 0"),
])
def test_bad_input_raises(digits, call, match):
    with pytest.raises(ValueError, match=match):
        call(digits)


def test_focal_alpha_weights_the_classes():
    # A class weight of 0 removes that class's examples from the objective: its
    # logit column then only moves through the softmax coupling, so the model
    # trained without class 1's weight predicts class 1 far less often.
    from softmax_nb import load_digits_split, predict_logits, train_softmax_regression

    d = load_digits_split(seed=0)
    alpha = np.ones(10)
    alpha[1] = 0.0
    kw = dict(epochs=5, loss="focal", gamma=2.0)
    plain = train_softmax_regression(d.X_train, d.y_train, 10, **kw)
    weighted = train_softmax_regression(d.X_train, d.y_train, 10, focal_alpha=alpha, **kw)
    pred_plain = predict_logits(plain, d.X_test).argmax(axis=1)
    pred_weighted = predict_logits(weighted, d.X_test).argmax(axis=1)
    assert np.sum(pred_weighted == 1) < np.sum(pred_plain == 1) / 2
    with pytest.raises(ValueError, match="focal_alpha is only used with loss='focal'"):
        train_softmax_regression(d.X_train, d.y_train, 10, focal_alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        train_softmax_regression(d.X_train, d.y_train, 10, loss="focal", focal_alpha=np.ones(3), epochs=1)


# --- fit_softmax_regression (L-BFGS-B to the optimum) ---

from softmax_nb.training import fit_softmax_regression  # noqa: E402


def penalised_objective(W, b, X, y, lam, eps=0.0, weights=None):
    """The objective of fit_softmax_regression, written out with plain numpy loops over samples."""
    z = X @ W + b
    k = W.shape[1]
    total, norm = 0.0, 0.0
    for i in range(len(y)):
        logp = z[i] - (z[i].max() + np.log(np.sum(np.exp(z[i] - z[i].max()))))
        target = (1 - eps) * (np.arange(k) == y[i]) + eps / k
        w = 1.0 if weights is None else weights[y[i]]
        total += w * -np.sum(target * logp)
        norm += w
    return total / norm + 0.5 * lam * np.sum(W * W)


@pytest.fixture(scope="module")
def small():
    d = load_digits_split(seed=1)
    return d.X_train[:300], d.y_train[:300]


def test_fit_matches_sklearn_optimum(small):
    from sklearn.linear_model import LogisticRegression

    X, y = small
    lam = 1e-2
    model = fit_softmax_regression(X, y, num_classes=10, weight_decay=lam, tol=1e-10)
    # ours: mean CE + lam/2 |W|^2  ==  (1/(lam n)) * [C sum CE + 1/2 |W|^2] with C = 1/(lam n)
    clf = LogisticRegression(C=1 / (lam * len(y)), tol=1e-12, max_iter=10_000).fit(X, y)
    p_ours = softmax(predict_logits(model, X))
    assert np.abs(p_ours - clf.predict_proba(X)).max() < 1e-6
    assert np.abs(model.W - (clf.coef_.T - clf.coef_.T.mean(axis=1, keepdims=True))).max() < 1e-4


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_fit_is_a_minimum_of_the_written_out_objective(small, eps):
    X, y = small
    model = fit_softmax_regression(X, y, num_classes=10, weight_decay=1e-3, label_smoothing=eps, tol=1e-9)
    best = penalised_objective(model.W, model.b, X, y, 1e-3, eps)
    rng = np.random.default_rng(0)
    for _ in range(5):
        dW, db = rng.normal(size=model.W.shape), rng.normal(size=model.b.shape)
        for h in (1e-3, 1e-2):
            assert penalised_objective(model.W + h * dW, model.b + h * db, X, y, 1e-3, eps) > best


def test_fit_class_weight_equals_duplicating_samples(small):
    X, y = small
    weights = np.ones(10)
    weights[3] = 2.0
    weighted = fit_softmax_regression(X, y, num_classes=10, weight_decay=1e-3, class_weight=weights, tol=1e-10)
    dup = np.concatenate([np.arange(len(y)), np.flatnonzero(y == 3)])
    duplicated = fit_softmax_regression(X[dup], y[dup], num_classes=10, weight_decay=1e-3, tol=1e-10)
    # same objective, so the same minimiser; 1e-5 is the optimiser's stopping accuracy on this
    # weakly penalised (ill-conditioned) problem, far below the parameters' size (about 1)
    assert np.abs(weighted.W - duplicated.W).max() < 1e-5
    assert np.abs(weighted.b - duplicated.b).max() < 1e-5
    p_w, p_d = (softmax(predict_logits(m, X)) for m in (weighted, duplicated))
    assert np.abs(p_w - p_d).max() < 1e-6


def test_fit_is_better_optimum_than_sgd(small):
    X, y = small
    lbfgs = fit_softmax_regression(X, y, num_classes=10, weight_decay=1e-3)
    sgd = train_softmax_regression(X, y, num_classes=10, weight_decay=1e-3, epochs=30)
    assert (penalised_objective(lbfgs.W, lbfgs.b, X, y, 1e-3)
            < penalised_objective(sgd.W, sgd.b, X, y, 1e-3))
    assert len(lbfgs.history.train_loss) == 0


def test_fit_focal_runs_and_bad_input(small):
    X, y = small
    model = fit_softmax_regression(X, y, num_classes=10, loss="focal", gamma=2.0)
    assert np.all(np.isfinite(model.W))
    with pytest.raises(ValueError, match="class_weight"):
        fit_softmax_regression(X, y, num_classes=10, class_weight=np.ones(3))
    with pytest.raises(ValueError, match="class_weight"):
        fit_softmax_regression(X, y, num_classes=10, class_weight=np.zeros(10))
    with pytest.raises(ValueError, match="tol"):
        fit_softmax_regression(X, y, num_classes=10, tol=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        fit_softmax_regression(X, y, num_classes=10, weight_decay=-1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        fit_softmax_regression(X, y, num_classes=10, loss="focal", label_smoothing=0.1)



@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_fit_center_is_the_same_minimiser(small, eps):
    X, y = small
    plain = fit_softmax_regression(X, y, num_classes=10, weight_decay=1e-3, label_smoothing=eps, tol=1e-10)
    centred = fit_softmax_regression(X, y, num_classes=10, weight_decay=1e-3, label_smoothing=eps, tol=1e-10,
                                     center=True)
    # the same objective in other variables: the same minimiser, to the stopping accuracy (1e-5 for the
    # weakly determined bias, as in test_fit_class_weight_equals_duplicating_samples)
    assert np.abs(centred.W - plain.W).max() < 1e-6
    assert np.abs(centred.b - plain.b).max() < 1e-5
    best = penalised_objective(plain.W, plain.b, X, y, 1e-3, eps)
    assert abs(penalised_objective(centred.W, centred.b, X, y, 1e-3, eps) - best) < 1e-12


def test_fit_center_returns_parameters_for_the_original_features(small):
    X, y = small
    # shifting every feature by 3 changes only the bias of the optimum (b is not penalised), by -3 sum_d W_d:
    # the centred fits see the same centred data (up to rounding), and each must undo its own shift
    a = fit_softmax_regression(X, y, num_classes=10, weight_decay=1e-3, tol=1e-9, center=True)
    b = fit_softmax_regression(X + 3.0, y, num_classes=10, weight_decay=1e-3, tol=1e-9, center=True)
    assert np.allclose(a.W, b.W, rtol=0, atol=1e-6)
    assert np.allclose(b.b, a.b - 3.0 * a.W.sum(axis=0), rtol=0, atol=1e-5)
    assert np.allclose(predict_logits(a, X), predict_logits(b, X + 3.0), rtol=0, atol=1e-5)


def test_fit_center_needs_fewer_evaluations(small, monkeypatch):
    import softmax_nb.training as training

    X, y = small
    calls, minimize = [], training._minimize_lbfgs

    def counting(fun, size, iters, gtol):
        def counted(theta):
            calls[-1] += 1
            return fun(theta)
        calls.append(0)
        return minimize(counted, size, iters, gtol)

    monkeypatch.setattr(training, "_minimize_lbfgs", counting)
    for center in (False, True):
        fit_softmax_regression(X, y, num_classes=10, weight_decay=1e-4, tol=1e-8, center=center)
    assert calls[1] < calls[0] / 2, calls


def test_fit_center_must_be_a_bool(small):
    X, y = small
    with pytest.raises(TypeError, match="center"):
        fit_softmax_regression(X, y, num_classes=10, center=1)

# --- distill_softmax_regression (Hinton et al. 2015 objective, L-BFGS-B) ---

from softmax_nb import distill_softmax_regression, template_plane  # noqa: E402


def distillation_objective(W, b, X, y, t, T, beta, lam):
    """The objective of distill_softmax_regression, written out with a plain loop over samples."""
    total = 0.0
    for i in range(len(y)):
        z = X[i] @ W + b
        log_p = z - (z.max() + np.log(np.sum(np.exp(z - z.max()))))
        zT = z / T
        log_pT = zT - (zT.max() + np.log(np.sum(np.exp(zT - zT.max()))))
        q = np.exp(t[i] / T - t[i].max() / T)
        q /= q.sum()
        total += beta * -log_p[y[i]] + (1 - beta) * T * T * -np.sum(q * log_pT)
    return total / len(y) + 0.5 * lam * np.sum(W * W)


@pytest.fixture(scope="module")
def tiny():
    d = load_digits_split(seed=2)
    rng = np.random.default_rng(3)
    X, y = d.X_train[:60, ::4], d.y_train[:60]              # 60 samples, 16 features, 10 classes
    teacher = 3.0 * rng.standard_normal((60, 10)) + 4.0 * np.eye(10)[y]
    return X, y, teacher


@pytest.mark.parametrize("T, beta", [(1.0, 0.0), (4.0, 0.1), (2.5, 0.7)])
def test_distill_gradient_vanishes_at_the_fit(tiny, T, beta):
    # central finite differences of the written-out objective: independent of the package's analytic gradient
    X, y, t = tiny
    lam = 1e-2
    model = distill_softmax_regression(X, y, t, temperature=T, hard_weight=beta, weight_decay=lam, tol=1e-10)
    theta = np.concatenate([model.W.ravel(), model.b])
    d, k = model.W.shape

    def f(th):
        return distillation_objective(th[:d * k].reshape(d, k), th[d * k:], X, y, t, T, beta, lam)

    h = 1e-5
    grad = np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    # the fit's own gradient is below 1e-9; the finite-difference error is O(h^2 f''') + O(u f / h) ~ 1e-9
    assert np.abs(grad).max() < 1e-7
    # and it is a minimum: random steps increase the written-out objective
    rng = np.random.default_rng(0)
    best = f(theta)
    for _ in range(3):
        step = rng.standard_normal(theta.size)
        assert f(theta + 1e-3 * step) > best and f(theta - 1e-3 * step) > best


def test_distill_with_hard_weight_one_is_fit_softmax_regression(small):
    X, y = small
    teacher = np.random.default_rng(1).standard_normal((len(y), 10))
    fit = fit_softmax_regression(X, y, num_classes=10, weight_decay=1e-2, tol=1e-10)
    distilled = distill_softmax_regression(X, y, teacher, temperature=3.0, hard_weight=1.0, weight_decay=1e-2,
                                           tol=1e-10)
    # same strictly convex objective (lambda = 1e-2), so the same minimiser, to the optimiser's accuracy
    assert np.abs(fit.W - distilled.W).max() < 1e-6
    assert np.abs(fit.b - distilled.b).max() < 1e-6


def test_distill_soft_only_ignores_the_labels_and_matches_the_teacher(tiny):
    X, y, t = tiny
    a = distill_softmax_regression(X, y, t, temperature=2.0, hard_weight=0.0, weight_decay=1e-2, tol=1e-10)
    shuffled = np.random.default_rng(5).permutation(y)
    b = distill_softmax_regression(X, shuffled, t, temperature=2.0, hard_weight=0.0, weight_decay=1e-2, tol=1e-10)
    assert np.abs(a.W - b.W).max() < 1e-8 and np.abs(a.b - b.b).max() < 1e-8
    # a teacher that is itself linear in X is reproduced exactly (lambda = 0): its logits t = X V + c
    rng = np.random.default_rng(6)
    V, c = rng.standard_normal((X.shape[1], 10)), rng.standard_normal(10)
    linear = distill_softmax_regression(X, y, X @ V + c, temperature=3.0, weight_decay=0.0, tol=1e-10)
    p_student = softmax((X @ linear.W + linear.b) / 3.0)
    p_teacher = softmax((X @ V + c) / 3.0)
    assert np.abs(p_student - p_teacher).max() < 1e-6


def test_distill_bad_input(tiny):
    X, y, t = tiny
    cases = [
        (dict(teacher_logits=t[:, :1]), "teacher_logits"),
        (dict(teacher_logits=t[:10]), "teacher_logits"),
        (dict(teacher_logits=np.where(np.eye(60, 10) > 0, np.nan, t)), "teacher_logits"),
        (dict(teacher_logits=t[0]), "teacher_logits"),
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-1.0), "temperature"),
        (dict(temperature=np.inf), "temperature"),
        (dict(hard_weight=1.5), "hard_weight"),
        (dict(hard_weight=-0.1), "hard_weight"),
        (dict(weight_decay=-1e-3), "weight_decay"),
        (dict(tol=0.0), "tol"),
        (dict(max_iter=0), "max_iter"),
        (dict(y=np.where(np.arange(60) == 0, 10, y)), "y"),
        (dict(y=y[:10]), "y"),
        (dict(X=np.where(np.eye(60, 16) > 0, np.inf, X)), "X"),
    ]
    for overrides, name in cases:
        args = dict(X=X, y=y, teacher_logits=t) | overrides
        with pytest.raises(ValueError, match=name):
            distill_softmax_regression(**args)


# --- template_plane (Müller et al. 2019 projection) ---

@pytest.fixture(scope="module")
def small_mlp(digits):
    return train_mlp(digits.X_train, digits.y_train, 10, hidden=16, epochs=3, seed=0)


def test_template_plane_preserves_distances_within_the_plane(small_mlp, digits):
    classes = [3, 5, 8]
    points, templates = template_plane(small_mlp, digits.X_test[:50], classes)
    assert points.shape == (50, 2) and templates.shape == (3, 2)
    w = small_mlp.W2[:, classes].T
    # the templates lie in the plane: their projected distances are their true distances
    for i in range(3):
        for j in range(3):
            assert np.isclose(np.linalg.norm(templates[i] - templates[j]), np.linalg.norm(w[i] - w[j]), rtol=1e-12)
    assert np.allclose(templates.mean(axis=0), 0.0, atol=1e-12)
    # against an independent basis (numpy's QR): same plane, so the same distances between projected points
    Q, _ = np.linalg.qr(np.stack([w[1] - w[0], w[2] - w[0]], axis=1))
    direct = (small_mlp.hidden(digits.X_test[:50]) - w.mean(axis=0)) @ Q
    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1)
    gaps_direct = np.linalg.norm(direct[:, None] - direct[None], axis=-1)
    assert np.allclose(gaps, gaps_direct, rtol=1e-10, atol=1e-12)
    # the coordinates are the projection: the residual h - m - coords @ basis is orthogonal to the plane
    h = small_mlp.hidden(digits.X_test[:50]) - w.mean(axis=0)
    residual = h - direct @ Q.T
    assert np.abs(residual @ Q).max() < 1e-10
    assert np.allclose(np.linalg.norm(h, axis=1) ** 2, np.linalg.norm(points, axis=1) ** 2
                       + np.linalg.norm(residual, axis=1) ** 2, rtol=1e-10)


def test_template_plane_bad_input(small_mlp, digits):
    X = digits.X_test[:5]
    for classes in ([0, 1], [0, 1, 1], [0, 1, 10], [-1, 0, 1], [0.0, 1.0, 2.0], [[0, 1, 2]]):
        with pytest.raises(ValueError, match="classes"):
            template_plane(small_mlp, X, classes)
    with pytest.raises(ValueError, match="X"):
        template_plane(small_mlp, X[:, :10], [0, 1, 2])
    with pytest.raises(ValueError, match="model"):
        template_plane(fit_softmax_regression(X, digits.y_test[:5], num_classes=10), X, [0, 1, 2])
    collinear = MLPModel(small_mlp.W1, small_mlp.b1, small_mlp.W2.copy(), small_mlp.b2, "relu", small_mlp.history)
    collinear.W2[:, 2] = 2 * collinear.W2[:, 1] - collinear.W2[:, 0]
    with pytest.raises(ValueError, match="one line"):
        template_plane(collinear, X, [0, 1, 2])
