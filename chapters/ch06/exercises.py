"""Chapter 6 exercises (练习) that answer back: Momentum, AdaGrad, Dropout and weight decay.

Each ``check_*`` runs the reader's class or function on a few cases, compares with the reference and,
when the answer is wrong, says which known mistake it is — the reader's own among them (``if self.v ==
None``, ``self.v =[key] = ...``, ``params.key()``, ``params.item()``, weights rebound instead of
updated in place, dropout scaled at test time the wrong way, L1 where L2 was meant). The machinery
(:class:`chapters.figures.Exercise`) prints ✓ / "not done yet" / what is wrong, in English and 中文,
and returns True only for a correct answer.
"""
from __future__ import annotations

import numpy as np

from chapters.figures import Case, Exercise, Mistake, Variant, same

_REBIND_EN = ("params[key] = params[key] ... makes a new array: the dict sees it, but the layers still hold the old "
              "weight array, which never changes — update in place: params[key] {op}= ...")
_REBIND_ZH = ("params[key] = params[key] ... 创建了一个新数组：字典里是新的，但各层手里仍是旧的权重数组，它根本没变——"
              "要原地更新：params[key] {op}= ...")


def _observe_optimizer(rec, cls, kwargs, params, grad_steps):
    """Build cls(**kwargs), apply its update for each grads dict; record params after each step, and the
    original arrays (the ones the layers hold) at the end."""
    opt = cls(**kwargs)
    held = dict(params)                                   # the array objects a network's layers would hold
    for step, grads in enumerate(grad_steps, start=1):
        opt.update(params, grads)
        rec.put(f"step {step}", tuple(params[k] for k in sorted(params)))
    rec.put("held", tuple(held[k] for k in sorted(held)))


def _rebound(got, ref) -> list[int]:
    """Cases where params (the dict) ends up right but the original arrays, the ones the layers hold, did not move."""
    return [i for i, (g, r) in enumerate(zip(got, ref))
            if "error" not in g and all(same(g.get(k), r[k]) for k in r if k.startswith("step"))
            and not same(g.get("held"), r["held"])]


def _rebinds_params(op: str) -> Mistake:
    """params[key] = params[key] {op} ... instead of params[key] {op}= ...: recognised by :func:`_rebound`."""
    return Mistake(_REBIND_EN.format(op=op), _REBIND_ZH.format(op=op), test=_rebound)


def _compared_with_none(attr: str, en_why: str, zh_why: str) -> Mistake:
    """``if self.<attr> == None`` in the answer's source, a latent bug no case can show; *_why* ends the message."""
    return Mistake(f"`if self.{attr} == None`: test for None with `is` — `if self.{attr} is None`{en_why}",
                   f"`if self.{attr} == None`：判断 None 要用 is——`if self.{attr} is None`{zh_why}",
                   source=r"[=!]=\s*None\b")


def _params() -> dict[str, np.ndarray]:
    return {"W": np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]), "b": np.array([0.1, -0.2, 0.3])}


def _grad_steps(scale: float = 1.0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(6)
    return [{"W": scale * rng.normal(size=(2, 3)), "b": scale * rng.normal(size=3)} for _ in range(3)]


def _optimizer_labels(steps: int = 3) -> dict[str, tuple[str, str]]:
    labels = {f"step {k}": (f"(params['W'], params['b']) after update {k}",
                            f"第 {k} 次更新后的 (params['W'], params['b'])")
              for k in range(1, steps + 1)}
    labels["held"] = ("the original weight arrays (the ones the layers hold) after all updates",
                      "全部更新后原来的权重数组（各层持有的那些）")
    return labels


# -- 1. Momentum -----------------------------------------------------------------------------------
class _MomentumReference:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.v[key] = self.velocity(key, grads[key])
            params[key] += self.v[key]

    def velocity(self, key, grad):                      # the planted versions below change one step each
        return self.momentum * self.v[key] - self.lr * grad


class _MomentumChainedAssignment(_MomentumReference):
    def update(self, params, grads):
        if self.v is None:
            self.v = {}
            for key, val in params.items():
                self.v = [key] = np.zeros_like(val)     # the reader's line
        super().update(params, grads)


class _MomentumKeyTypo(_MomentumReference):
    def update(self, params, grads):                    # (raises before self.v is needed)
        for key in params.key():                       # the reader's line: .key() does not exist
            self.v[key] = self.velocity(key, grads[key])
            params[key] += self.v[key]


class _MomentumForgets(_MomentumReference):
    def update(self, params, grads):
        self.v = {key: np.zeros_like(val) for key, val in params.items()}    # every call: plain SGD
        super().update(params, grads)


class _MomentumUphill(_MomentumReference):
    def velocity(self, key, grad):
        return self.momentum * self.v[key] + self.lr * grad


_MOMENTUM_EX = Exercise(
    "Momentum", "Momentum", _MomentumReference, _observe_optimizer,
    (Case("lr=0.1, momentum=0.9, params W (2, 3) and b (3,), 3 updates",
          ({"lr": 0.1, "momentum": 0.9}, _params(), _grad_steps())),
     Case("lr=0.05, momentum=0.5, 3 updates", ({"lr": 0.05, "momentum": 0.5}, _params(), _grad_steps(2.0)))),
    labels=_optimizer_labels(),
    mistakes=(
        Mistake.planted(
            _MomentumChainedAssignment,
            "`self.v =[key] = ...` is a chained assignment (self.v = ... and [key] = ..., hence 'too many values "
            "to unpack'): to fill the dict write self.v = {} once, then self.v[key] = np.zeros_like(val).",
            "`self.v =[key] = ...` 是连续赋值（相当于 self.v = ... 和 [key] = ...，所以报 too many values to "
            "unpack）：要往字典里填值，先写一次 self.v = {}，再 self.v[key] = np.zeros_like(val)。"),
        Mistake.planted(
            _MomentumKeyTypo,
            "A dict has no .key(): loop over params.keys(), or params.items() for (key, value) pairs.",
            "字典没有 .key() 方法：用 params.keys() 遍历键，或用 params.items() 得到 (键, 值) 对。"),
        _rebinds_params("+"),
        Mistake.planted(
            _MomentumForgets,
            "Your velocity starts from zero at every update, so Momentum acts like plain SGD: create self.v once "
            "(if self.v is None) and keep it between calls.",
            "你的速度 v 每次更新都从零开始，Momentum 就退化成了普通的 SGD：只在第一次（if self.v is None）创建 "
            "self.v，并在各次调用之间保留它。"),
        Mistake.planted(
            _MomentumUphill,
            "Your parameters move uphill: v = momentum * v - lr * grad (minus: against the gradient), then "
            "params[key] += v.",
            "你的参数在往上坡走：v = momentum * v - lr * grad（减号：沿梯度的反方向），然后 params[key] += v。"),
        _compared_with_none(
            "v",
            ". `==` works here only because v is a dict; on a NumPy array it compares element by element, and the "
            "`if` raises 'truth value of an array … is ambiguous'.",
            "。这里能运行只是因为 v 是字典；若是 NumPy 数组，== 会逐元素比较，if 就会报 truth value of an array … "
            "is ambiguous。"),
    ))


@_MOMENTUM_EX.checker
def check_momentum(cls) -> bool:
    """Exercise 6.1: a class ``cls(lr=0.01, momentum=0.9)`` whose ``update(params, grads)`` is Momentum, in place."""


# -- 2. AdaGrad ------------------------------------------------------------------------------------
class _AdaGradReference:
    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.step(key, grads[key])

    def step(self, key, grad):                          # the planted versions below change one step each
        return self.lr * grad / (np.sqrt(self.h[key]) + 1e-7)


class _AdaGradEpsInside(_AdaGradReference):
    def step(self, key, grad):
        return self.lr * grad / np.sqrt(self.h[key] + 1e-7)


class _AdaGradItemTypo(_AdaGradReference):
    def update(self, params, grads):
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.item()}    # the reader's line
        super().update(params, grads)


class _AdaGradNoEps(_AdaGradReference):
    def step(self, key, grad):
        return self.lr * grad / np.sqrt(self.h[key])


class _AdaGradNoSum(_AdaGradReference):
    def update(self, params, grads):
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.h[key] = grads[key] * grads[key]       # the latest gradient only
            params[key] -= self.step(key, grads[key])


class _AdaGradNoSqrt(_AdaGradReference):
    def step(self, key, grad):
        return self.lr * grad / (self.h[key] + 1e-7)


def _adagrad_steps() -> list[dict[str, np.ndarray]]:
    """Gradients with a 0 (eps keeps 0/0 away) and tiny entries (where eps inside or outside the root differ)."""
    steps = _grad_steps()
    for k, g in enumerate(steps):
        g["W"][0, 0] = 0.0
        g["b"][1] = 1e-4 * (k + 1)
    return steps


_ADAGRAD_EX = Exercise(
    "AdaGrad", "AdaGrad", _AdaGradReference, _observe_optimizer,
    (Case("lr=0.1, params W (2, 3) and b (3,), 3 updates, some gradients 0 or tiny",
          ({"lr": 0.1}, _params(), _adagrad_steps())),
     Case("lr=0.5, 3 updates", ({"lr": 0.5}, _params(), _grad_steps(0.1)))),
    labels=_optimizer_labels(), rtol=1e-6, atol=1e-9,
    variants=(Variant(_AdaGradEpsInside,
                      "(You put eps inside the square root, np.sqrt(h + 1e-7): also fine — the book puts it outside; "
                      "the two differ only for tiny gradients.)",
                      "（你把 eps 放在了平方根里面，np.sqrt(h + 1e-7)：这样也可以——书中放在外面；"
                      "两者只在梯度极小时有差别。）"),),
    mistakes=(
        Mistake.planted(
            _AdaGradItemTypo,
            "A dict has no .item(): loop with params.keys(), or params.items() for (key, value) pairs.",
            "字典没有 .item() 方法：用 params.keys() 遍历，或用 params.items() 得到 (键, 值) 对。"),
        Mistake.planted(
            _AdaGradNoEps,
            "A gradient of 0 gives 0 / 0 = nan: add a small eps to the denominator, np.sqrt(h) + 1e-7.",
            "梯度为 0 时得到 0 / 0 = nan：在分母上加一个小的 eps，np.sqrt(h) + 1e-7。"),
        Mistake.planted(
            _AdaGradNoSum,
            "h must *add up* the squared gradients of every step, self.h[key] += grads[key] * grads[key]; yours "
            "keeps only the latest one (forgetting gradually instead would be RMSprop).",
            "h 必须把每一步的梯度平方*累加*起来，self.h[key] += grads[key] * grads[key]；你的只保留了最近一次的"
            "（逐渐遗忘过去的梯度则是 RMSprop）。"),
        Mistake.planted(
            _AdaGradNoSqrt,
            "Divide by the square root of h, np.sqrt(h) + 1e-7: h is a sum of squared gradients, and its root "
            "brings the step back to the gradient's scale.",
            "要除以 h 的平方根，np.sqrt(h) + 1e-7：h 是梯度平方的和，开方后步长才回到梯度的尺度。"),
        _rebinds_params("-"),
        _compared_with_none(
            "h",
            " (`==` compares a NumPy array element by element, and the `if` then raises).",
            "（对 NumPy 数组 == 会逐元素比较，if 就会报错）。"),
    ))


@_ADAGRAD_EX.checker
def check_adagrad(cls) -> bool:
    """Exercise 6.2: a class ``cls(lr=0.01)`` whose ``update(params, grads)`` is AdaGrad, in place."""


# -- 3. Dropout ------------------------------------------------------------------------------------
def _scale_of(out: np.ndarray, x: np.ndarray) -> float | str:
    """c if out == c * x everywhere (rounded to 4 digits), else a word for what out is."""
    c = float(out.flat[0] / x.flat[0])
    if np.allclose(out, c * x):
        return round(c, 4)
    return "some units zeroed" if np.any(out == 0) else "not a multiple of x"


def _observe_dropout(rec, cls, ratio, x, dout):
    layer = cls(dropout_ratio=ratio)
    out = rec.result("train out", layer.forward(x, train_flg=True))
    kept = out != 0
    rec.put("kept fraction", round(float(kept.mean()), 1))
    scales = np.unique(np.round(out[kept] / x[kept], 4))
    scale = float(scales[0]) if scales.size == 1 else 1.0
    rec.put("kept units", f"x * {scale:g}" if scales.size == 1 else "not a multiple of x")
    dx = rec.result("dx", layer.backward(dout))
    rec.put("backward", "dout * scale where kept, 0 where dropped" if np.allclose(dx, dout * kept * scale)
            else "dout everywhere" if np.allclose(dx, dout) else "something else")
    rec.pop("dx")
    rec.put("test scale", _scale_of(rec.result("test out", layer.forward(x, train_flg=False)), x))
    rec.pop("train out")                                  # random: compared through the properties above
    rec.pop("test out")


class _DropoutReference:
    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


class _DropoutInverted(_DropoutReference):
    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask / (1.0 - self.dropout_ratio)
        return x.copy()

    def backward(self, dout):
        return dout * self.mask / (1.0 - self.dropout_ratio)


class _DropoutDividesAtTest(_DropoutReference):
    def forward(self, x, train_flg=True):
        if train_flg:
            return super().forward(x, train_flg)
        return x / (1.0 - self.dropout_ratio)


class _DropoutMaskAtTest(_DropoutReference):
    def forward(self, x, train_flg=True):
        self.mask = np.random.rand(*x.shape) > self.dropout_ratio
        return x * self.mask


class _DropoutUnscaledAtTest(_DropoutReference):
    def forward(self, x, train_flg=True):
        if train_flg:
            return super().forward(x, train_flg)
        return x.copy()


class _DropoutRatioAtTest(_DropoutReference):
    def forward(self, x, train_flg=True):
        if train_flg:
            return super().forward(x, train_flg)
        return x * self.dropout_ratio


class _DropoutKeepsRatio(_DropoutReference):
    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) < self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)


class _DropoutNoMaskBackward(_DropoutReference):
    def backward(self, dout):
        return dout.copy()


_RNG6 = np.random.default_rng(61)
_DROPOUT_EX = Exercise(
    "Dropout", "Dropout", _DropoutReference, _observe_dropout,
    (Case("dropout_ratio=0.3, x of shape (40, 50), entries in [0.5, 1.5]",
          (0.3, _RNG6.uniform(0.5, 1.5, (40, 50)), _RNG6.uniform(0.5, 1.5, (40, 50)))),
     Case("dropout_ratio=0.2, x of shape (20, 3, 6, 6)",
          (0.2, _RNG6.uniform(0.5, 1.5, (20, 3, 6, 6)), _RNG6.uniform(0.5, 1.5, (20, 3, 6, 6))))),
    labels={"kept fraction": ("the fraction of units kept in training", "学习时保留的神经元比例"),
            "kept units": ("the kept units in training", "学习时保留下来的神经元"),
            "dx": ("backward's dx", "backward 返回的 dx"),
            "backward": ("backward's dx", "backward 返回的 dx"),
            "test scale": ("the test-time output, as a multiple of x", "测试时的输出（x 的倍数）")},
    variants=(Variant(_DropoutInverted,
                      "(This is inverted dropout — scale by 1/(1 - ratio) in training, nothing at test time — "
                      "what most frameworks do; the book scales at test time instead. The expected output is the "
                      "same.)",
                      "（这是 inverted dropout——学习时乘以 1/(1 - ratio)，测试时不做处理——大多数框架都这样做；书中则是"
                      "在测试时缩放。输出的期望值相同。）"),),
    mistakes=(
        Mistake.planted(
            _DropoutDividesAtTest,
            "At test time you divide by (1 - dropout_ratio): in training only a fraction 1 - ratio of the units is "
            "on, so at test time, with all of them on, the output must be *scaled down*: "
            "x * (1.0 - self.dropout_ratio).",
            "测试时你除以了 (1 - dropout_ratio)：学习时只有 1 - ratio 比例的神经元在工作，测试时全部工作，输出应该"
            "*缩小*：x * (1.0 - self.dropout_ratio)。"),
        Mistake.planted(
            _DropoutMaskAtTest,
            "Your forward drops units at test time too: with train_flg=False use every unit and scale, "
            "x * (1.0 - self.dropout_ratio) — no mask.",
            "你的 forward 在测试时也随机删除了神经元：train_flg=False 时要使用全部神经元并缩放，"
            "x * (1.0 - self.dropout_ratio)——不用 mask。"),
        Mistake.planted(
            _DropoutUnscaledAtTest,
            "At test time you return x unscaled, while training kept only a fraction 1 - ratio on average: "
            "multiply by (1.0 - self.dropout_ratio) so the expected output matches (or scale by 1/(1 - ratio) "
            "in training instead: inverted dropout).",
            "测试时你直接返回了 x，而学习时平均只保留了 1 - ratio 的比例：要乘以 (1.0 - self.dropout_ratio)，使输出"
            "的期望值一致（或者改为在学习时乘以 1/(1 - ratio)：即 inverted dropout）。"),
        Mistake.planted(
            _DropoutRatioAtTest,
            "At test time you multiply by dropout_ratio, the fraction dropped: multiply by the fraction kept, "
            "1.0 - self.dropout_ratio.",
            "测试时你乘以了 dropout_ratio（被删除的比例）：应乘以保留的比例 1.0 - self.dropout_ratio。"),
        Mistake.planted(
            _DropoutKeepsRatio,
            "Your mask keeps a fraction dropout_ratio of the units and drops the rest: dropout_ratio is the "
            "fraction *dropped* — self.mask = np.random.rand(*x.shape) > self.dropout_ratio.",
            "你的 mask 保留了 dropout_ratio 比例的神经元、删除了其余的：dropout_ratio 是被*删除*的比例——"
            "self.mask = np.random.rand(*x.shape) > self.dropout_ratio。"),
        Mistake.planted(
            _DropoutNoMaskBackward,
            "Your backward passes dout to every unit: a dropped unit took no part in the forward pass, so it gets "
            "no gradient — return dout * self.mask.",
            "你的 backward 把 dout 传给了所有神经元：被删除的神经元没有参与正向传播，也就没有梯度——"
            "返回 dout * self.mask。"),
    ))


@_DROPOUT_EX.checker
def check_dropout(cls) -> bool:
    """Exercise 6.3: the book's Dropout: ``cls(dropout_ratio)``, ``forward(x, train_flg=True)``, ``backward(dout)``."""


# -- 4. Weight decay: the L2 penalty and its gradient ----------------------------------------------
def _observe_weight_decay(rec, fn, W, lam):
    out = rec.result("out", fn(W, lam))
    rec.pop("out")
    penalty, dW = out
    rec.put("penalty", penalty)
    rec.put("dW", dW)
    rec.put("W_after", W)


def _weight_decay_reference(W, lam):
    return 0.5 * lam * np.sum(W ** 2), lam * W


def _weight_decay_l1(W, lam):
    return lam * np.sum(np.abs(W)), lam * np.sign(W)


def _weight_decay_l1_gradient(W, lam):
    return 0.5 * lam * np.sum(W ** 2), lam * np.sign(W)


def _weight_decay_no_half(W, lam):
    return lam * np.sum(W ** 2), 2 * lam * W


def _weight_decay_mismatch(W, lam):
    return lam * np.sum(W ** 2), lam * W


_WEIGHT_DECAY_EX = Exercise(
    "weight decay", "权值衰减", _weight_decay_reference, _observe_weight_decay,
    (Case("W of shape (2, 3), λ = 0.1", (np.array([[1.0, -2.0, 0.5], [-0.25, 3.0, -1.5]]), 0.1)),
     Case("W of shape (4,), λ = 0.01", (np.array([0.3, -0.7, 2.0, -4.0]), 0.01))),
    labels={"penalty": ("the penalty", "惩罚项"), "dW": ("the gradient dW", "梯度 dW"),
            **Exercise.after_call("W")},
    mistakes=(
        Mistake.planted(
            _weight_decay_l1,
            "That is L1 regularisation (λ·Σ|W|, gradient λ·sign(W)): the book's weight decay is L2 — penalty "
            "½·λ·ΣW², gradient λ·W.",
            "这是 L1 正则化（λ·Σ|W|，梯度 λ·sign(W)）：书中的权值衰减是 L2——惩罚项 ½·λ·ΣW²，梯度 λ·W。"),
        Mistake.planted(
            _weight_decay_l1_gradient,
            "Your penalty is L2 but your gradient λ·sign(W) is L1's: the gradient of ½·λ·ΣW² is λ·W.",
            "你的惩罚项是 L2 的，但梯度 λ·sign(W) 是 L1 的：½·λ·ΣW² 的梯度是 λ·W。"),
        Mistake.planted(
            _weight_decay_no_half,
            "Without the ½ the penalty is λ·ΣW² and its gradient 2λ·W: the book writes ½·λ·ΣW² so that the "
            "gradient is simply λ·W.",
            "没有 ½，惩罚项是 λ·ΣW²，梯度是 2λ·W：书中写成 ½·λ·ΣW²，梯度正好是 λ·W。"),
        Mistake.planted(
            _weight_decay_mismatch,
            "Your penalty λ·ΣW² and your gradient λ·W do not match: the penalty whose gradient is λ·W is ½·λ·ΣW².",
            "你的惩罚项 λ·ΣW² 与梯度 λ·W 不匹配：梯度为 λ·W 的惩罚项是 ½·λ·ΣW²。"),
    ))


@_WEIGHT_DECAY_EX.checker
def check_weight_decay(fn) -> bool:
    """Exercise 6.4: ``fn(W, lam)`` -> (penalty, dW) of the book's L2 weight decay, ½·λ·ΣW² and λ·W."""
