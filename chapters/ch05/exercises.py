"""Chapter 5's exercises that answer back (练习): check_relu_layer, check_affine_layer,
check_softmax_with_loss — each recognises the reader's own backpropagation bugs.
"""
from __future__ import annotations

import numpy as np

from chapters.figures import Case, Exercise, Mistake
from common.functions import softmax
from common.layers import Relu

# ---------------------------------------------------------------------------------------------
# Exercises (练习): check_relu_layer, check_affine_layer, check_softmax_with_loss
# ---------------------------------------------------------------------------------------------
# Each checker builds the reader's layer class, runs forward and backward on a small batch (all sizes
# different, so that a transposed or misplaced axis shows), compares outputs, stored gradients and the
# caller's arrays with the book's layers, and names the mistake — among them the reader's own: dW from
# dx, the bias mean instead of the sum, a forgotten bias, `out = x` aliasing.



# -- 1. The Relu layer ------------------------------------------------------------------------------
def _observe_relu_layer(rec, cls, x, dout):
    layer = cls()
    rec.result("out", layer.forward(x))
    rec.put("x_after", x)
    rec.result("dx", layer.backward(dout))
    rec.put("dout_after", dout)


_ReluReference = Relu            # the reference answer is the book's layer itself (common.layers.Relu)


class _ReluAliasedForward(_ReluReference):
    def forward(self, x):
        self.mask = (x <= 0)
        out = x                                 # the same array, not a copy
        out[self.mask] = 0
        return out


class _ReluBookBackward(_ReluReference):
    def backward(self, dout):                   # the book's: zeroes the caller's dout
        dout[self.mask] = 0
        dx = dout
        return dx


class _ReluNoMaskBackward(_ReluReference):
    def backward(self, dout):
        return dout.copy()


class _ReluInvertedMask(_ReluReference):
    def forward(self, x):
        self.mask = (x > 0)
        out = x.copy()
        out[self.mask] = 0
        return out


_RELU_LAYER_EX = Exercise(
    "Relu layer", "Relu 层", _ReluReference, _observe_relu_layer,
    (Case("x and dout of shape (2, 3)", (np.array([[1.0, -0.5, 2.0], [-3.0, 0.25, -1.0]]),
                                          np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]))),
     Case("x and dout of shape (2, 1, 2, 2) (images)",
          (np.array([[[[-1.0, 2.0], [3.0, -4.0]]], [[[0.5, -0.5], [-2.0, 1.0]]]]),
           np.arange(1.0, 9.0).reshape(2, 1, 2, 2)))),
    labels={"out": ("forward's output", "forward 的输出"),
            "x_after": ("the caller's x after forward", "forward 后调用者的 x"),
            "dx": ("backward's dx", "backward 返回的 dx"),
            "dout_after": ("the caller's dout after backward", "backward 后调用者的 dout")},
    mistakes=(
        Mistake.planted(
            _ReluAliasedForward,
            "Your forward changed the caller's x: out = x does not copy (it is a second name for the same array), "
            "so out[self.mask] = 0 zeroes the input too — out = x.copy().",
            "你的 forward 修改了调用者的 x：out = x 并不复制（它只是同一个数组的另一个名字），"
            "所以 out[self.mask] = 0 把输入也清零了——应写 out = x.copy()。"),
        Mistake.planted(
            _ReluBookBackward,
            "Your backward changed the dout it was given (dout[self.mask] = 0 writes into the caller's array; the "
            "book does this too): harmless in a plain chain of layers, wrong as soon as dout is used twice — "
            "dx = dout.copy(); dx[self.mask] = 0.",
            "你的 backward 修改了传入的 dout（dout[self.mask] = 0 写进了调用者的数组；书中也是这样写的）：在简单的"
            "层链中无害，但 dout 一旦被用两次就会出错——dx = dout.copy(); dx[self.mask] = 0。"),
        Mistake.planted(
            _ReluNoMaskBackward,
            "Your backward passes dout through everywhere: where x ≤ 0 ReLU's output is constantly 0, so the "
            "gradient there is 0 — dx[self.mask] = 0 with the mask (x <= 0) saved in forward.",
            "你的 backward 把 dout 原样全部传回了：在 x ≤ 0 处 ReLU 的输出恒为 0，梯度也是 0——用 forward 中保存的 "
            "mask（x <= 0）执行 dx[self.mask] = 0。"),
        Mistake.planted(
            _ReluInvertedMask,
            "Your mask is inverted: ReLU keeps the positive values and zeroes the rest — self.mask = (x <= 0) "
            "marks the entries to zero.",
            "你的 mask 反了：ReLU 保留正值、把其余的置 0——self.mask = (x <= 0) 标记的是要置 0 的元素。"),
    ))


@_RELU_LAYER_EX.checker
def check_relu_layer(cls) -> bool:
    """Exercise 5.1: a class with ``forward(x)`` and ``backward(dout)``: ReLU, for arrays of any shape."""


# -- 2. The Affine layer ----------------------------------------------------------------------------
def _observe_affine(rec, cls, W, b, x, dout):
    layer = cls(W, b)
    rec.result("out", layer.forward(x))
    rec.result("dx", layer.backward(dout))
    rec.put("dW", layer.dW)
    rec.put("db", layer.db)


class _AffineReference:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.dW = self.db = None

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = self.weight_gradient(dx, dout)
        self.db = self.bias_gradient(dout)
        return dx

    def weight_gradient(self, dx, dout):        # the planted versions below each change one step
        return np.dot(self.x.T, dout)

    def bias_gradient(self, dout):
        return np.sum(dout, axis=0)


class _AffineDWFromDx(_AffineReference):
    def weight_gradient(self, dx, dout):
        return np.dot(dx.T, dout)               # the reader's bug: dx where x belongs


class _AffineBiasMean(_AffineReference):
    def bias_gradient(self, dout):
        return np.mean(dout, axis=0)


class _AffineNoBias(_AffineReference):
    def forward(self, x):
        self.x = x
        return np.dot(x, self.W)


class _AffineDWTransposed(_AffineReference):
    def weight_gradient(self, dx, dout):
        return np.dot(dout.T, self.x)


class _AffineBiasSumAll(_AffineReference):
    def bias_gradient(self, dout):
        return np.sum(dout)


_RNG5 = np.random.default_rng(5)
_AFFINE_CASES = (
    Case("x (4, 3), W (3, 2), b (2,), dout (4, 2)",
         (_RNG5.normal(size=(3, 2)), np.array([0.5, -1.0]), _RNG5.normal(size=(4, 3)), _RNG5.normal(size=(4, 2)))),
    Case("one sample: x (1, 3), W (3, 5), b (5,), dout (1, 5)",
         (_RNG5.normal(size=(3, 5)), _RNG5.normal(size=5), _RNG5.normal(size=(1, 3)), _RNG5.normal(size=(1, 5)))),
)

_AFFINE_EX = Exercise(
    "Affine layer", "Affine 层", _AffineReference, _observe_affine, _AFFINE_CASES,
    labels={"out": ("forward's output", "forward 的输出"), "dx": ("backward's dx", "backward 返回的 dx"),
            "dW": ("self.dW", "self.dW（权重的梯度）"), "db": ("self.db", "self.db（偏置的梯度）")},
    mistakes=(
        Mistake.planted(
            _AffineDWFromDx,
            "dW is computed from dx instead of x (dW = dx.T @ dout: the right shape, wrong values, and training "
            "stalls — the 'accuracy stuck' bug): dW = self.x.T @ dout, with the x saved in forward.",
            "dW 是用 dx 而不是 x 算的（dW = dx.T @ dout：形状对、数值错，学习会停滞——就是“识别精度卡住不动”的那个 "
            "bug）：应为 dW = self.x.T @ dout，x 是 forward 中保存的输入。"),
        Mistake.planted(
            _AffineBiasMean,
            "db is the mean over the batch; it must be the sum, np.sum(dout, axis=0): b was added to every one of "
            "the N rows, and the loss's 1/N is already inside dout.",
            "db 取了批次上的平均值，应为求和 np.sum(dout, axis=0)：偏置 b 被加到了 N 行中的每一行，而损失的 1/N "
            "已经包含在 dout 里了。"),
        Mistake.planted(
            _AffineNoBias,
            "Your forward leaves out the bias (out = x @ W): the Affine layer computes x @ W + b (the 'very slow "
            "training' bug).",
            "你的 forward 漏掉了偏置（out = x @ W）：Affine 层计算的是 x @ W + b（就是“学习非常慢”的那个 bug）。"),
        Mistake.planted(
            _AffineDWTransposed,
            "dW has the shape of W.T: dout.T @ x is (M, D), and a gradient must have its parameter's shape "
            "(D, M) — dW = self.x.T @ dout.",
            "dW 的形状是 W.T 的：dout.T @ x 是 (M, D)，而梯度必须和参数同形 (D, M)——dW = self.x.T @ dout。"),
        Mistake.planted(
            _AffineBiasSumAll,
            "db is a single number (np.sum(dout) adds up everything): it must have b's shape (M,) — sum over the "
            "batch axis only, np.sum(dout, axis=0).",
            "db 成了一个数（np.sum(dout) 把所有元素都加起来了）：它必须和 b 同形 (M,)——只沿批次轴求和，"
            "np.sum(dout, axis=0)。"),
    ))


@_AFFINE_EX.checker
def check_affine_layer(cls) -> bool:
    """Exercise 5.2: a class ``cls(W, b)`` with ``forward(x)``, and ``backward(dout)`` that stores dW and db."""


# -- 3. The Softmax-with-Loss layer -----------------------------------------------------------------
def _observe_softmax_with_loss(rec, cls, x, t):
    layer = cls()
    rec.result("loss", layer.forward(x, t))
    rec.result("dx", layer.backward(1))


class _SoftmaxWithLossReference:
    def __init__(self):
        self.loss = self.y = self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        n = x.shape[0]
        labels = t.argmax(axis=1) if t.size == self.y.size else t
        self.loss = -np.sum(np.log(self.y[np.arange(n), labels] + 1e-7)) / n
        return self.loss

    def backward(self, dout=1):
        n = self.t.shape[0]
        if self.t.size == self.y.size:          # one-hot
            return (self.y - self.t) / n
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


class _SoftmaxWithLossNoMean(_SoftmaxWithLossReference):
    def backward(self, dout=1):
        n = self.t.shape[0]
        return super().backward(dout) * n


class _SoftmaxWithLossReturnsY(_SoftmaxWithLossReference):
    def forward(self, x, t):
        super().forward(x, t)
        return self.y


class _SoftmaxWithLossOneHotOnly(_SoftmaxWithLossReference):
    def backward(self, dout=1):
        return (self.y - self.t) / self.t.shape[0]


class _SoftmaxWithLossForgetsT(_SoftmaxWithLossReference):
    def backward(self, dout=1):
        return self.y / self.t.shape[0]


_SCORES = np.array([[0.3, 2.9, 4.0], [1.0, 1.0, -1.0]])
_SOFTMAX_WITH_LOSS_EX = Exercise(
    "SoftmaxWithLoss layer", "Softmax-with-Loss 层", _SoftmaxWithLossReference, _observe_softmax_with_loss,
    (Case("scores x (2, 3), one-hot t (2, 3)", (_SCORES, np.array([[0, 0, 1], [1, 0, 0]]))),
     Case("scores x (2, 3), labels t = [2, 0]", (_SCORES, np.array([2, 0]))),
     Case("scores x (4, 3), labels t = [1, 1, 0, 2]", (np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 1.0], [2.0, 2.0, 2.0],
                                                                 [-0.5, 0.0, 3.0]]), np.array([1, 1, 0, 2])))),
    labels={"loss": ("forward's loss", "forward 返回的损失"), "dx": ("backward's dx", "backward 返回的 dx")},
    rtol=1e-5, atol=1e-6,
    mistakes=(
        Mistake.planted(
            _SoftmaxWithLossNoMean,
            "Your dx is y - t without dividing by the batch size: the loss is a mean over N samples, so its "
            "gradient is (y - t) / N.",
            "你的 dx 是 y - t，没有除以批大小：损失是 N 个样本的平均值，所以梯度是 (y - t) / N。"),
        Mistake.planted(
            _SoftmaxWithLossReturnsY,
            "Your forward returns the probabilities: SoftmaxWithLoss.forward returns the loss (one number); "
            "prediction calls softmax directly, this layer is only used for learning.",
            "你的 forward 返回了概率：SoftmaxWithLoss.forward 应返回损失（一个数）；推理时直接调用 softmax，这一层"
            "只在学习时使用。"),
        Mistake.planted(
            _SoftmaxWithLossOneHotOnly,
            "With label targets (t = [2, 0]) y - t does not work: subtract 1 at each sample's correct class — "
            "dx = self.y.copy(); dx[np.arange(N), self.t] -= 1; dx /= N.",
            "监督数据是标签（t = [2, 0]）时不能直接算 y - t：要在每个样本的正确类别处减 1——"
            "dx = self.y.copy(); dx[np.arange(N), self.t] -= 1; dx /= N。"),
        Mistake.planted(
            _SoftmaxWithLossForgetsT,
            "Your dx is y / N: the gradient of softmax followed by the cross-entropy error is (y - t) / N — "
            "subtract the targets.",
            "你的 dx 是 y / N：softmax 加交叉熵误差的梯度是 (y - t) / N——要减去监督数据 t。"),
    ))


@_SOFTMAX_WITH_LOSS_EX.checker
def check_softmax_with_loss(cls) -> bool:
    """Exercise 5.3: a class with ``forward(x, t)`` -> loss and ``backward(dout=1)`` -> dx (t one-hot or labels)."""
