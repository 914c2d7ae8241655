"""Exercises that answer back (练习), with feedback in English and Chinese.

For every checker of chapters 2-8: the reference solution passes (True, ✓); the unfinished stub
reports "not done yet" and returns False without raising; each recognised wrong answer — written
here the way a reader would write it, the reader's own bugs from READER.md among them — gets its own
message, in English and in Chinese, and no other checker message; an unrecognised wrong answer gets
the generic message naming the case. Plus the machinery: planted versions, accepted variants, misuse,
determinism, the reader's random state left alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from chapters import ch02, ch03
from chapters.ch02 import AND, NAND, OR
from chapters.ch04 import exercises as ch04
from chapters.ch05 import exercises as ch05
from chapters.ch06 import exercises as ch06
from chapters.ch07 import exercises as ch07
from chapters.ch08 import exercises as ch08
from chapters.figures import Exercise
from common.functions import softmax
from common.gradient import numerical_gradient
from common.layers import Relu
from common.util import im2col

CHAPTERS = {2: ch02, 3: ch03, 4: ch04, 5: ch05, 6: ch06, 7: ch07, 8: ch08}


# --- One spec per checker ------------------------------------------------------------------------------------
@dataclass
class Spec:
    """A checker, its reference solution, the stub, the recognised wrong answers and one unrecognised one.

    mistakes: {name: (English substring, Chinese substring, [wrong answers])} — the substrings are
    distinctive: each wrong answer's output must contain its own pair and no other mistake's.
    """

    chapter: int
    checker: str
    solution: Callable
    stub: Callable
    mistakes: dict[str, tuple[str, str, list[Callable]]]
    unrecognised: Callable
    variants: list[Callable] = field(default_factory=list)

    @property
    def check(self) -> Callable[[Callable], bool]:
        return getattr(CHAPTERS[self.chapter], self.checker)


def _stub(*args, **kwargs):
    raise NotImplementedError


class _StubClass:
    """A class stub as the notebooks give it: the constructor runs, every method is still to be written."""

    def __init__(self, *args, **kwargs):
        pass

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def backward(self, *args, **kwargs):
        raise NotImplementedError

    def update(self, *args, **kwargs):
        raise NotImplementedError


SPECS: list[Spec] = []


# --- Chapter 2 ------------------------------------------------------------------------------------------------
def nand_solution(x1, x2):
    x = np.array([x1, x2])
    w = np.array([-0.5, -0.5])
    b = 0.7
    return 1 if np.sum(w * x) + b > 0 else 0


def _perceptron(w1, w2, b):
    def gate(x1, x2):
        return 1 if w1 * x1 + w2 * x2 + b > 0 else 0
    return gate


def nand_array_args(x1, x2):
    x = np.array(x1, x2)
    w = np.array([-0.5, -0.5])
    return 1 if np.sum(w * x) + 0.7 > 0 else 0


SPECS.append(Spec(
    2, "check_nand", nand_solution, _stub,
    {"array_args": ("np.array([x1, x2])", "x2 被当成了 dtype", [nand_array_args]),
     "and": ("AND's truth table", "与门（AND）的真值表", [_perceptron(0.5, 0.5, -0.7)]),
     "nor": ("are NOR's", "或非门（NOR）", [_perceptron(-0.5, -0.5, 0.2)]),
     "always_1": ("outputs 1 for every input", "对所有输入都输出 1", [_perceptron(-0.5, -0.5, 1.2)]),
     "always_0": ("outputs 0 for every input", "对所有输入都输出 0", [_perceptron(-0.5, -0.5, -0.7)])},
    unrecognised=lambda x1, x2: x1 ^ x2))


def xor_solution(x1, x2):
    return AND(NAND(x1, x2), OR(x1, x2))


SPECS.append(Spec(
    2, "check_xor", xor_solution, _stub,
    {"or": ("are OR's", "是或门（OR）的", [lambda x1, x2: OR(x1, x2)]),
     "nand": ("are NAND's", "是与非门（NAND）的", [lambda x1, x2: NAND(x1, x2)]),
     "xnor": ("XNOR", "同或（XNOR）", [lambda x1, x2: NAND(NAND(x1, x2), OR(x1, x2))]),
     "all_1": ("are all 1", "输出全是 1", [lambda x1, x2: OR(NAND(x1, x2), AND(x1, x2))]),
     "one_line": ("one straight line", "一条直线分开", [lambda x1, x2: AND(x1, x2), _perceptron(0.5, 0.5, -0.2 - 5)])},
    unrecognised=lambda x1, x2: x1 + x2))


def half_adder_solution(a, b):
    return xor_solution(a, b), AND(a, b)


SPECS.append(Spec(
    2, "check_half_adder", half_adder_solution, _stub,
    {"swapped": ("You return (carry, sum)", "你返回的是 (进位, 和)", [lambda a, b: (AND(a, b), xor_solution(a, b))]),
     "or_carry": ("Your carry is OR(a, b)", "你的进位是 OR(a, b)", [lambda a, b: (xor_solution(a, b), OR(a, b))]),
     "or_sum": ("Your sum bit is OR(a, b)", "你的和位是 OR(a, b)", [lambda a, b: (OR(a, b), AND(a, b))]),
     "one_value": ("Return both bits, as a pair", "作为一对返回", [lambda a, b: xor_solution(a, b)])},
    unrecognised=lambda a, b: (AND(a, b), AND(a, b))))


# --- Chapter 3 ------------------------------------------------------------------------------------------------
def step_solution(x):
    return (x > 0).astype(int)


def step_if(x):
    if x > 0:
        return 1
    return 0


def step_np_int(x):
    y = x > 0
    return y.astype(np.int)  # noqa: NPY001 - the reader's bug


SPECS.append(Spec(
    3, "check_step_function", step_solution, _stub,
    {"if": ("`if x > 0:` wants one True/False", "需要一个 True/False", [step_if]),
     "np_int": ("np.int is gone", "删除了 np.int", [step_np_int]),
     "bool": ("You return booleans", "返回的是布尔值", [lambda x: x > 0, lambda x: np.greater(x, 0)]),
     "ge": ("At x = 0 your step gives 1", "在 x = 0 处", [lambda x: np.array(x >= 0, dtype=int)])},
    unrecognised=lambda x: np.sign(x)))


def relu_solution(x):
    return np.maximum(0, x)


def relu_in_place(x):
    x[x <= 0] = 0
    return x


SPECS.append(Spec(
    3, "check_relu", relu_solution, _stub,
    {"np_max": ("np.max is a reduction", "np.max 是归约运算", [lambda x: np.max(0, x), lambda x: np.max(x, 0)]),
     "builtin_max": ("Python's max(0, x)", "Python 的 max(0, x)", [lambda x: max(0, x)]),
     "in_place": ("changed the caller's x", "修改了调用者的 x", [relu_in_place])},
    unrecognised=np.abs))


def softmax_solution(a):
    exp_a = np.exp(a - np.max(a, axis=-1, keepdims=True))
    return exp_a / np.sum(exp_a, axis=-1, keepdims=True)


def softmax_book(a):                      # the book's one-sample version
    c = np.max(a)
    exp_a = np.exp(a - c)
    return exp_a / np.sum(exp_a)


def softmax_naive(a):
    return np.exp(a) / np.sum(np.exp(a))


def softmax_forgot_shifted(a):            # computes the shift, then exponentiates the original
    shifted = a - np.max(a, axis=-1, keepdims=True)  # noqa: F841
    exp_a = np.exp(a)
    return exp_a / exp_a.sum(axis=-1, keepdims=True)


def softmax_global_max(a):
    exp_a = np.exp(a - a.max())
    return exp_a / exp_a.sum(axis=-1, keepdims=True)


def softmax_no_keepdims(a):
    exp_a = np.exp(a - np.max(a, axis=-1, keepdims=True))
    return exp_a / np.sum(exp_a, axis=-1)


def softmax_axis0(a):
    exp_a = np.exp(a - np.max(a, axis=0, keepdims=True))
    return exp_a / np.sum(exp_a, axis=0, keepdims=True)


def softmax_axis1(a):
    exp_a = np.exp(a - np.max(a, axis=1, keepdims=True))
    return exp_a / np.sum(exp_a, axis=1, keepdims=True)


SPECS.append(Spec(
    3, "check_softmax", softmax_solution, _stub,
    {"naive": ("sums over the whole batch and overflows", "对整个批次求和了，而且会溢出", [softmax_naive]),
     "whole_batch": ("softmax sums over the whole batch: each row must sum to 1", "对整个批次求和了：每一行都应和为 1",
                     [softmax_book]),
     "overflow": ("softmax overflows on large scores", "在输入很大时溢出", [softmax_forgot_shifted]),
     "global_max": ("You subtract the whole batch's maximum", "减去的是整个批次的最大值", [softmax_global_max]),
     "keepdims": ("Without keepdims=True", "没有 keepdims=True", [softmax_no_keepdims]),
     "axis0": ("You normalised the columns (axis=0)", "对列做了归一化", [softmax_axis0]),
     "axis1": ("axis=1 fails for a single sample", "axis=1 对形状为 (C,) 的单个样本会出错", [softmax_axis1])},
    unrecognised=np.exp))


# --- Chapter 4 ------------------------------------------------------------------------------------------------
def gradient_solution(f, x, h=1e-4):
    x = x if np.issubdtype(x.dtype, np.floating) else x.astype(float)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx].copy()
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
        it.iternext()
    return grad


def gradient_book_1d_raw(f, x):             # the book's 1-D loop as printed: integers left alone too
    h = 1e-4
    grad = np.zeros_like(x)
    for idx in range(x.size):
        tmp_val = x[idx]
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
    return grad


def gradient_book_1d(f, x):                 # the book's 1-D loop (integers converted: only the one bug)
    return gradient_book_1d_raw(f, x if x.dtype.kind == "f" else x.astype(float))


def gradient_integer_blind(f, x):
    h = 1e-4
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        tmp_val = x[idx]
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
    return grad


def _perturb_without_restoring(f, x, h):
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx].copy()
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        it.iternext()
    return grad


def gradient_not_restored_in_place(f, x):
    return _perturb_without_restoring(f, x if x.dtype.kind == "f" else x.astype(float), 1e-4)


def gradient_forward(f, x):
    h = 1e-4
    x = x.astype(float) if x.dtype.kind != "f" else x
    grad = np.zeros_like(x)
    fx = f(x)
    for idx in np.ndindex(*x.shape):
        tmp_val = x[idx]
        x[idx] = tmp_val + h
        grad[idx] = (f(x) - fx) / h
        x[idx] = tmp_val
    return grad


def gradient_flatten(f, x):
    h = 1e-4
    flat = x.flatten().astype(float)
    grad = np.zeros(flat.size)
    for i in range(flat.size):
        tmp_val = flat[i]
        flat[i] = tmp_val + h
        fxh1 = f(x)
        flat[i] = tmp_val - h
        fxh2 = f(x)
        grad[i] = (fxh1 - fxh2) / (2 * h)
        flat[i] = tmp_val
    return grad.reshape(x.shape)


def gradient_refuses_integers(f, x):
    if x.dtype.kind != "f":
        raise TypeError("x must be a float array")
    return gradient_solution(f, x)


SPECS.append(Spec(
    4, "check_numerical_gradient", gradient_solution, _stub,
    {"range_size": ("walks the *rows* of a 2-D x", "遍历的是*行*", [gradient_book_1d]),
     "integer": ("With an integer x", "x 是整数数组时", [gradient_integer_blind]),
     "not_restored": ("leaves x changed", "调用后 x 变了", [gradient_not_restored_in_place]),
     "forward": ("forward difference", "前向差分", [gradient_forward]),
     "flatten": ("perturbed a copy", "改动的是一个副本", [gradient_flatten])},
    unrecognised=lambda f, x: 2 * gradient_solution(f, x),
    variants=[gradient_refuses_integers]))


def descent_solution(f, init_x, lr=0.01, step_num=100):
    x = np.array(init_x, dtype=float)
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
    return x


def descent_book(f, init_x, lr=0.01, step_num=100):
    x = init_x
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
    return x


def descent_own_gradient_in_place(f, init_x, lr=0.01, step_num=100):
    x = init_x
    for _ in range(step_num):
        x -= lr * gradient_solution(f, x)   # a float-safe gradient: the int case fails on x -= ... instead
    return x


def descent_uphill(f, init_x, lr=0.01, step_num=100):
    x = init_x.astype(float)
    for _ in range(step_num):
        x += lr * numerical_gradient(f, x)
    return x


def descent_copy_keeps_ints(f, init_x, lr=0.01, step_num=100):
    x = init_x.copy()
    for _ in range(step_num):
        x = x - lr * numerical_gradient(f, x)
    return x


def descent_copy_own_gradient(f, init_x, lr=0.01, step_num=100):
    x = init_x.copy()
    for _ in range(step_num):
        x -= lr * gradient_solution(f, x)
    return x


SPECS.append(Spec(
    4, "check_gradient_descent", descent_solution, _stub,
    {"in_place": ("moved the caller's init_x", "把调用者的 init_x 也改了",
                  [descent_book, descent_own_gradient_in_place]),
     "uphill": ("climbs uphill", "在往上坡走", [descent_uphill]),
     "integer": ("An integer start point", "整数起点", [descent_copy_keeps_ints, descent_copy_own_gradient])},
    unrecognised=lambda f, init_x, lr=0.01, step_num=100: descent_solution(f, init_x, lr, step_num + 1)))


def cross_entropy_solution(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t.ravel()] + 1e-7)) / batch_size


def cross_entropy_sum(y, t):
    return cross_entropy_solution(y, t) * (y.shape[0] if y.ndim == 2 else 1)


def cross_entropy_one_hot(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    return -np.sum(t * np.log(y + 1e-7)) / y.shape[0]


def cross_entropy_labels(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def cross_entropy_no_reshape(y, t):
    if t.size == y.size:
        t = t.argmax(axis=-1)
    batch_size = y.shape[0]                          # C for a single sample
    if y.ndim == 1:
        return -np.log(y[t] + 1e-7) / batch_size
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def cross_entropy_no_delta(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        return -np.sum(t * np.log(y)) / y.shape[0]
    return -np.sum(np.log(y[np.arange(y.shape[0]), t.ravel()])) / y.shape[0]


SPECS.append(Spec(
    4, "check_cross_entropy_error", cross_entropy_solution, _stub,
    {"sum": ("the sum over the batch", "整个批次的总和", [cross_entropy_sum]),
     "one_hot_only": ("Label targets", "没有处理标签形式", [cross_entropy_one_hot]),
     "labels_only": ("One-hot targets", "没有处理 one-hot 形式", [cross_entropy_labels]),
     "single": ("A single sample y of shape (C,)", "单个样本 y", [cross_entropy_no_reshape]),
     "no_delta": ("log(0) = -inf", "加上一个微小值", [cross_entropy_no_delta])},
    unrecognised=lambda y, t: -cross_entropy_solution(y, t)))


# --- Chapter 5 ------------------------------------------------------------------------------------------------
ReluSolution = Relu              # the book's layer, as a reader would write it, is a correct answer


class ReluAliased(ReluSolution):
    def forward(self, x):
        self.mask = (x <= 0)
        out = x
        out[self.mask] = 0
        return out


class ReluBook(ReluSolution):
    def backward(self, dout):
        dout[self.mask] = 0
        dx = dout
        return dx


class ReluNoMask(ReluSolution):
    def backward(self, dout):
        return dout * 1.0


class ReluInverted(ReluSolution):
    def forward(self, x):
        self.mask = x > 0
        return np.where(self.mask, 0.0, x)


class ReluDoubles(ReluSolution):
    def forward(self, x):
        return 2 * super().forward(x)


SPECS.append(Spec(
    5, "check_relu_layer", ReluSolution, _StubClass,
    {"aliased": ("out = x does not copy", "out = x 并不复制", [ReluAliased]),
     "book_backward": ("changed the dout it was given", "修改了传入的 dout", [ReluBook]),
     "no_mask": ("passes dout through everywhere", "把 dout 原样全部传回了", [ReluNoMask]),
     "inverted": ("Your mask is inverted", "你的 mask 反了", [ReluInverted])},
    unrecognised=ReluDoubles))


class AffineSolution:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.dW = self.db = None

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


def _affine_variant(dW=None, db=None, forward=None):
    class Variant(AffineSolution):
        def forward(self, x):
            return forward(self, x) if forward else super().forward(x)

        def backward(self, dout):
            dx = super().backward(dout)
            if dW:
                self.dW = dW(self, dx, dout)
            if db:
                self.db = db(dout)
            return dx
    return Variant


def _affine_no_bias_forward(layer, x):
    layer.x = x
    return x @ layer.W


SPECS.append(Spec(
    5, "check_affine_layer", AffineSolution, _StubClass,
    {"dW_from_dx": ("dW is computed from dx instead of x", "dW 是用 dx 而不是 x 算的",
                    [_affine_variant(dW=lambda layer, dx, dout: dx.T @ dout)]),
     "db_mean": ("db is the mean over the batch", "db 取了批次上的平均值",
                 [_affine_variant(db=lambda d: d.mean(axis=0))]),
     "no_bias": ("leaves out the bias", "漏掉了偏置", [_affine_variant(forward=_affine_no_bias_forward)]),
     "dW_T": ("dW has the shape of W.T", "dW 的形状是 W.T 的",
              [_affine_variant(dW=lambda layer, dx, dout: dout.T @ layer.x)]),
     "db_all": ("db is a single number", "db 成了一个数", [_affine_variant(db=np.sum)])},
    unrecognised=_affine_variant(dW=lambda layer, dx, dout: 2 * layer.x.T @ dout)))


class SoftmaxWithLossSolution:
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
        if self.t.size == self.y.size:
            return (self.y - self.t) * dout / n
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx * dout / n


class SWLNoMean(SoftmaxWithLossSolution):
    def backward(self, dout=1):
        return super().backward(dout) * self.t.shape[0]


class SWLReturnsY(SoftmaxWithLossSolution):
    def forward(self, x, t):
        super().forward(x, t)
        return self.y


class SWLOneHot(SoftmaxWithLossSolution):
    def backward(self, dout=1):
        return (self.y - self.t) / self.t.shape[0]


class SWLForgetsT(SoftmaxWithLossSolution):
    def backward(self, dout=1):
        return self.y / self.y.shape[0]


class SWLHalfLoss(SoftmaxWithLossSolution):
    def forward(self, x, t):
        return super().forward(x, t) / 2


SPECS.append(Spec(
    5, "check_softmax_with_loss", SoftmaxWithLossSolution, _StubClass,
    {"no_mean": ("without dividing by the batch size", "没有除以批大小", [SWLNoMean]),
     "returns_y": ("forward returns the probabilities", "forward 返回了概率", [SWLReturnsY]),
     "one_hot": ("With label targets (t = [2, 0]) y - t does not work", "不能直接算 y - t", [SWLOneHot]),
     "forgets_t": ("Your dx is y / N", "你的 dx 是 y / N", [SWLForgetsT])},
    unrecognised=SWLHalfLoss))


# --- Chapter 6 ------------------------------------------------------------------------------------------------
class MomentumSolution:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class MomentumChained(MomentumSolution):
    def update(self, params, grads):
        if self.v is None:
            for key, val in params.items():
                self.v = [key] = np.zeros_like(val)
        super().update(params, grads)


class MomentumKeyTypo(MomentumSolution):
    def update(self, params, grads):
        if self.v is None:
            self.v = {}
            for key in params.key():
                self.v[key] = np.zeros_like(params[key])
        super().update(params, grads)


class MomentumEqNone(MomentumSolution):
    def update(self, params, grads):
        if self.v == None:  # noqa: E711 - the reader's line
            self.v = {}
            for key, val in params.items():
                self.v[key] = np.zeros_like(val)
        for key in params.keys():
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class MomentumRebinds(MomentumSolution):
    def update(self, params, grads):
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] = params[key] + self.v[key]


class MomentumForgets(MomentumSolution):
    def update(self, params, grads):
        self.v = None
        super().update(params, grads)


class MomentumUphill(MomentumSolution):
    def update(self, params, grads):
        super().update(params, {k: -g for k, g in grads.items()})


class MomentumFixedLr(MomentumSolution):
    def update(self, params, grads):
        self.lr = 0.01
        super().update(params, grads)


SPECS.append(Spec(
    6, "check_momentum", MomentumSolution, _StubClass,
    {"chained": ("is a chained assignment", "是连续赋值", [MomentumChained]),
     "key_typo": ("A dict has no .key()", "字典没有 .key() 方法", [MomentumKeyTypo]),
     "eq_none": ("`if self.v == None`", "判断 None 要用 is", [MomentumEqNone]),
     "rebinds": ("makes a new array", "创建了一个新数组", [MomentumRebinds]),
     "forgets": ("starts from zero at every update", "每次更新都从零开始", [MomentumForgets]),
     "uphill": ("Your parameters move uphill", "你的参数在往上坡走", [MomentumUphill])},
    unrecognised=MomentumFixedLr))


class AdaGradSolution:
    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


def _adagrad_with(step):
    class Variant(AdaGradSolution):
        def update(self, params, grads):
            if self.h is None:
                self.h = {key: np.zeros_like(val) for key, val in params.items()}
            for key in params.keys():
                step(self, params, grads, key)
    return Variant


class AdaGradItem(AdaGradSolution):
    def update(self, params, grads):
        if self.h is None:
            self.h = {}
            for key, val in params.item():
                self.h[key] = np.zeros_like(val)
        super().update(params, grads)


class AdaGradEqNone(AdaGradSolution):
    def update(self, params, grads):
        if self.h == None:  # noqa: E711 - the reader's line
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        super().update(params, grads)


def _step_no_eps(opt, params, grads, key):
    opt.h[key] += grads[key] ** 2
    params[key] -= opt.lr * grads[key] / np.sqrt(opt.h[key])


def _step_no_sum(opt, params, grads, key):
    opt.h[key] = grads[key] ** 2
    params[key] -= opt.lr * grads[key] / (np.sqrt(opt.h[key]) + 1e-7)


def _step_no_sqrt(opt, params, grads, key):
    opt.h[key] += grads[key] ** 2
    params[key] -= opt.lr * grads[key] / (opt.h[key] + 1e-7)


def _step_rebinds(opt, params, grads, key):
    opt.h[key] += grads[key] ** 2
    params[key] = params[key] - opt.lr * grads[key] / (np.sqrt(opt.h[key]) + 1e-7)


def _step_eps_inside(opt, params, grads, key):
    opt.h[key] += grads[key] ** 2
    params[key] -= opt.lr * grads[key] / np.sqrt(opt.h[key] + 1e-7)


def _step_double_lr(opt, params, grads, key):
    opt.h[key] += grads[key] ** 2
    params[key] -= 2 * opt.lr * grads[key] / (np.sqrt(opt.h[key]) + 1e-7)


SPECS.append(Spec(
    6, "check_adagrad", AdaGradSolution, _StubClass,
    {"item": ("A dict has no .item()", "字典没有 .item() 方法", [AdaGradItem]),
     "eq_none": ("`if self.h == None`", "判断 None 要用 is", [AdaGradEqNone]),
     "no_eps": ("0 / 0 = nan", "0 / 0 = nan", [_adagrad_with(_step_no_eps)]),
     "no_sum": ("*add up* the squared gradients", "*累加*起来", [_adagrad_with(_step_no_sum)]),
     "no_sqrt": ("Divide by the square root of h", "要除以 h 的平方根", [_adagrad_with(_step_no_sqrt)]),
     "rebinds": ("makes a new array", "创建了一个新数组", [_adagrad_with(_step_rebinds)])},
    unrecognised=_adagrad_with(_step_double_lr),
    variants=[_adagrad_with(_step_eps_inside)]))


class DropoutSolution:
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


def _dropout_with(test=None, keep=None, backward=None):
    class Variant(DropoutSolution):
        def forward(self, x, train_flg=True):
            if train_flg or test is None:
                if keep is not None:
                    self.mask = keep(np.random.rand(*x.shape), self.dropout_ratio)
                    return x * self.mask
                return super().forward(x, True)
            return test(self, x)

        def backward(self, dout):
            return backward(self, dout) if backward else super().backward(dout)
    return Variant


class DropoutInverted(DropoutSolution):
    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = (np.random.rand(*x.shape) > self.dropout_ratio) / (1.0 - self.dropout_ratio)
            return x * self.mask
        return x

    def backward(self, dout):
        return dout * self.mask


SPECS.append(Spec(
    6, "check_dropout", DropoutSolution, _StubClass,
    {"divides": ("At test time you divide by (1 - dropout_ratio)", "测试时你除以了 (1 - dropout_ratio)",
                 [_dropout_with(test=lambda layer, x: x / (1 - layer.dropout_ratio))]),
     "mask_at_test": ("drops units at test time too", "在测试时也随机删除了神经元", [_dropout_with()]),
     "unscaled": ("At test time you return x unscaled", "测试时你直接返回了 x",
                  [_dropout_with(test=lambda layer, x: x)]),
     "ratio": ("At test time you multiply by dropout_ratio", "测试时你乘以了 dropout_ratio",
               [_dropout_with(test=lambda layer, x: x * layer.dropout_ratio)]),
     "keeps_ratio": ("keeps a fraction dropout_ratio", "保留了 dropout_ratio 比例的神经元",
                     [_dropout_with(test=lambda layer, x: x * (1 - layer.dropout_ratio), keep=lambda r, p: r < p)]),
     "no_mask_backward": ("passes dout to every unit", "把 dout 传给了所有神经元",
                          [_dropout_with(test=lambda layer, x: x * (1 - layer.dropout_ratio),
                                         backward=lambda layer, dout: dout)])},
    unrecognised=_dropout_with(test=lambda layer, x: x * 0.5),
    variants=[DropoutInverted]))


def weight_decay_solution(W, lam):
    return 0.5 * lam * np.sum(W ** 2), lam * W


SPECS.append(Spec(
    6, "check_weight_decay", weight_decay_solution, _stub,
    {"l1": ("That is L1 regularisation", "这是 L1 正则化", [lambda W, lam: (lam * np.abs(W).sum(), lam * np.sign(W))]),
     "l1_gradient": ("your gradient λ·sign(W) is L1's", "梯度 λ·sign(W) 是 L1 的",
                     [lambda W, lam: (0.5 * lam * (W * W).sum(), lam * np.sign(W))]),
     "no_half": ("Without the ½", "没有 ½", [lambda W, lam: (lam * np.sum(W ** 2), 2 * lam * W)]),
     "mismatch": ("do not match", "不匹配", [lambda W, lam: (lam * np.sum(W ** 2), lam * W)])},
    unrecognised=lambda W, lam: (0.5 * lam * np.sum(W ** 2), W)))


# --- Chapter 7 ------------------------------------------------------------------------------------------------
def conv_output_size_solution(input_size, filter_size, stride=1, pad=0):
    return (input_size + 2 * pad - filter_size) // stride + 1


SPECS.append(Spec(
    7, "check_conv_output_size", conv_output_size_solution, _stub,
    {"no_stride": ("ignores the stride", "忽略了步幅", [lambda H, F, S=1, P=0: H + 2 * P - F + 1]),
     "pad_once": ("Padding is added on both sides", "填充在两边都要加", [lambda H, F, S=1, P=0: (H + P - F) // S + 1]),
     "no_plus_one": ("You forgot the + 1", "你漏掉了 + 1", [lambda H, F, S=1, P=0: (H + 2 * P - F) // S]),
     "plus_one_inside": ("The + 1 belongs outside the division", "+ 1 要放在除法外面",
                         [lambda H, F, S=1, P=0: (H + 2 * P - F + 1) / S])},
    unrecognised=lambda H, F, S=1, P=0: (H - F) // S + 1))


def conv_forward_solution(x, W, b, stride=1, pad=0):
    FN, C, FH, FW = W.shape
    N, C, H, Wd = x.shape
    out_h = 1 + (H + 2 * pad - FH) // stride
    out_w = 1 + (Wd + 2 * pad - FW) // stride
    col = im2col(x, FH, FW, stride, pad)
    col_W = W.reshape(FN, -1).T
    out = np.dot(col, col_W) + b
    return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)


def conv_reader(x, W, b, stride=1, pad=0, w_rows=None, out_last=None, transpose=True, honour=True):
    FN, C, FH, FW = W.shape
    N, C, H, Wd = x.shape
    s, p = (stride, pad) if honour else (1, 0)
    out_h = 1 + (H + 2 * p - FH) // s
    out_w = 1 + (Wd + 2 * p - FW) // s
    col = im2col(x, FH, FW, s, p)
    col_W = W.reshape(FN if w_rows is None else w_rows(W), -1).T
    out = col @ col_W + b
    if not transpose:
        return out.reshape(N, FN, out_h, out_w)
    return out.reshape(N, out_h, out_w, FN if out_last is None else out_last(W)).transpose(0, 3, 1, 2)


SPECS.append(Spec(
    7, "check_conv_forward", conv_forward_solution, _stub,
    {"W_FW": ("W.reshape(FW, -1)", "滤波器矩阵的第一个轴必须是滤波器的个数",
              [lambda x, W, b, s=1, p=0: conv_reader(x, W, b, s, p, w_rows=lambda W: W.shape[3])]),
     "out_FW": ("out.reshape(N, out_h, out_w, FW)", "该写 FN 的地方写成了 FW",
                [lambda x, W, b, s=1, p=0: conv_reader(x, W, b, s, p, out_last=lambda W: W.shape[3])]),
     "no_transpose": ("then transpose(0, 3, 1, 2)", "直接 reshape 为 (N, FN, out_h, out_w) 会打乱数值",
                      [lambda x, W, b, s=1, p=0: conv_reader(x, W, b, s, p, transpose=False)]),
     "ignores": ("stride and pad are accepted but ignored", "stride 和 pad 被接收了却没有使用",
                 [lambda x, W, b, s=1, p=0: conv_reader(x, W, b, s, p, honour=False)]),
     "no_bias": ("You forgot the bias", "你漏掉了偏置",
                 [lambda x, W, b, s=1, p=0: conv_forward_solution(x, W, 0 * b, s, p)])},
    unrecognised=lambda x, W, b, s=1, p=0: conv_forward_solution(x, W, b, s, p)[:, ::-1]))


def pooling_solution(x, pool_h, pool_w, stride):
    N, C, H, W = x.shape
    out_h = 1 + (H - pool_h) // stride
    out_w = 1 + (W - pool_w) // stride
    col = im2col(x, pool_h, pool_w, stride, 0).reshape(-1, pool_h * pool_w)
    out = np.max(col, axis=1)
    return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)


def pooling_reader(x, pool_h, pool_w, stride, final=None, stride_one=False, mixed=False, reduce=np.max):
    N, C, H, W = x.shape
    s = 1 if stride_one else stride
    out_h, out_w = 1 + (H - pool_h) // s, 1 + (W - pool_w) // s
    col = im2col(x, pool_h, pool_w, s, 0)
    if not mixed:
        col = col.reshape(-1, pool_h * pool_w)
    out = reduce(col, axis=1)
    if final is not None:
        return final(out, N, C, out_h, out_w)
    return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)


SPECS.append(Spec(
    7, "check_pooling_forward", pooling_solution, _stub,
    {"transpose": ("The maxima come out in (N, out_h, out_w, C) order", "最大值是按 (N, out_h, out_w, C) 的顺序出来的",
                   [lambda x, ph, pw, s: pooling_reader(
                        x, ph, pw, s, final=lambda o, N, C, h, w: o.reshape(N, C, h, w)),
                    lambda x, ph, pw, s: pooling_reader(
                        x, ph, pw, s, final=lambda o, N, C, h, w: o.reshape(N, h, w, C).transpose(0, 3, 2, 1))]),
     "stride_one": ("slides with stride 1", "以步幅 1 滑动",
                    [lambda x, ph, pw, s: pooling_reader(x, ph, pw, s, stride_one=True)]),
     "mixed": ("over a whole im2col row", "在 im2col 的整行上取了最大值",
               [lambda x, ph, pw, s: pooling_reader(x, ph, pw, s, mixed=True)])},
    unrecognised=lambda x, ph, pw, s: pooling_reader(x, ph, pw, s, reduce=np.mean)))


# --- Chapter 8 ------------------------------------------------------------------------------------------------
def receptive_field_solution(layers):
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r


def receptive_field_jump_first(layers):
    r, jump = 1, 1
    for k, s in layers:
        jump *= s
        r += (k - 1) * jump
    return r


SPECS.append(Spec(
    8, "check_receptive_field", receptive_field_solution, _stub,
    {"no_strides": ("You ignore the strides", "你忽略了步幅", [lambda layers: 1 + sum(k - 1 for k, s in layers)]),
     "sum_kernels": ("do not add up kernel sizes", "不是把核的大小相加", [lambda layers: sum(k for k, s in layers)]),
     "jump_first": ("before adding that layer's (k - 1)", "之前就乘上了它的步幅", [receptive_field_jump_first])},
    unrecognised=lambda layers: int(np.prod([k for k, s in layers]))))


SPECS.append(Spec(
    8, "check_conv_param_count", lambda FN, C, FH, FW: FN * C * FH * FW + FN, _stub,
    {"no_bias": ("You forgot the biases", "你漏掉了偏置", [lambda FN, C, FH, FW: FN * C * FH * FW]),
     "no_channels": ("A filter spans all C input channels", "一个滤波器覆盖全部 C 个输入通道",
                     [lambda FN, C, FH, FW: FN * FH * FW + FN]),
     "per_channel": ("not per (filter, channel)", "而不是每个（滤波器, 通道）一个",
                     [lambda FN, C, FH, FW: FN * C * (FH * FW + 1)]),
     "per_weight": ("not one per weight", "而不是每个权重一个", [lambda FN, C, FH, FW: FN * C * FH * FW * 2])},
    unrecognised=lambda FN, C, FH, FW: FN * C * FH * FW + 1))


def shift_solution(x, dy, dx):
    N, C, H, W = x.shape
    out = np.zeros_like(x)
    src = x[:, :, max(0, -dy):H - max(0, dy), max(0, -dx):W - max(0, dx)]
    out[:, :, max(0, dy):max(0, dy) + src.shape[2], max(0, dx):max(0, dx) + src.shape[3]] = src
    return out


SPECS.append(Spec(
    8, "check_shift_images", shift_solution, _stub,
    {"roll": ("np.roll wraps around", "np.roll 是循环移位",
              [lambda x, dy, dx: np.roll(np.roll(x, dy, axis=2), dx, axis=3)]),
     "swapped": ("dy and dx are swapped", "dy 和 dx 弄反了", [lambda x, dy, dx: shift_solution(x, dx, dy)]),
     "reversed": ("Your shift goes the other way", "你的平移方向反了",
                  [lambda x, dy, dx: shift_solution(x, -dy, -dx)])},
    unrecognised=lambda x, dy, dx: shift_solution(x, dy, dx) + (shift_solution(x, dy, dx) == 0)))


# --- Tests --------------------------------------------------------------------------------------------------------
def _run(spec: Spec, answer: Callable, capsys) -> tuple[bool, str]:
    result = spec.check(answer)
    return result, capsys.readouterr().out


def _ids(specs):
    return [s.checker for s in specs]


WRONG = [(spec, name, i, fn)
         for spec in SPECS for name, (_, _, fns) in spec.mistakes.items() for i, fn in enumerate(fns)]


def test_every_chapter_has_three_to_five_exercises():
    counts = {n: sum(s.chapter == n for s in SPECS) for n in range(2, 9)}
    assert all(3 <= c <= 5 for c in counts.values()), counts
    for spec in SPECS:                                  # the specs cover every checker a chapter exports
        assert callable(spec.check)
    exported = {n: sorted(k for k, v in vars(m).items()
                          if k.startswith("check_") and getattr(v, "__module__", None) == m.__name__)
                for n, m in CHAPTERS.items()}
    for n, names in exported.items():
        assert sorted(s.checker for s in SPECS if s.chapter == n) == names, n


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_reference_solution_passes(spec, capsys):
    ok, out = _run(spec, spec.solution, capsys)
    assert ok is True
    assert out.startswith("✓ ") and "correct on all" in out and "测试用例都正确" in out, out


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_stub_is_not_done_and_does_not_raise(spec, capsys):
    ok, out = _run(spec, spec.stub, capsys)
    assert ok is False
    assert "not done yet" in out and "还没有完成" in out, out
    assert "✗" not in out


@pytest.mark.parametrize("spec,name,i,fn", WRONG, ids=[f"{s.checker}-{n}-{i}" for s, n, i, _ in WRONG])
def test_each_recognised_wrong_answer_gets_its_own_message(spec, name, i, fn, capsys):
    ok, out = _run(spec, fn, capsys)
    assert ok is False
    en, zh, _ = spec.mistakes[name]
    assert en in out and zh in out, out
    for other, (en2, zh2, _) in spec.mistakes.items():
        if other != name:
            assert en2 not in out and zh2 not in out, f"{name} also reported as {other}:\n{out}"
    lines = out.rstrip("\n").split("\n")
    assert len(lines) == 2 and lines[0].startswith("✗ ") and lines[1].startswith("  ✗ "), out


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_unrecognised_wrong_answer_gets_the_generic_message(spec, capsys):
    ok, out = _run(spec, spec.unrecognised, capsys)
    assert ok is False
    assert re.search(r"case \d+ of \d+", out) and re.search(r"第 \d+ 个测试用例", out), out
    assert "should be" in out or "raised" in out, out
    for en, zh, _ in spec.mistakes.values():
        assert en not in out and zh not in out, out


@pytest.mark.parametrize("spec", [s for s in SPECS if s.variants], ids=_ids([s for s in SPECS if s.variants]))
def test_accepted_variants_pass_with_a_note(spec, capsys):
    for variant in spec.variants:
        ok, out = _run(spec, variant, capsys)
        assert ok is True
        assert out.startswith("✓ ") and "(" in out and "（" in out, out


def _exercises() -> list[tuple[str, Exercise]]:
    found = []
    for n, module in CHAPTERS.items():
        found += [(f"ch{n:02d}.{k}", v) for k, v in vars(module).items() if isinstance(v, Exercise)]
    return found


EXERCISES = _exercises()


@pytest.mark.parametrize("name,ex", EXERCISES, ids=[n for n, _ in EXERCISES])
def test_every_planted_wrong_version_is_caught_with_its_own_message(name, ex, capsys):
    assert ex.check(ex.reference) is True
    capsys.readouterr()
    for mistake in ex.mistakes:
        for version in mistake.wrong:
            assert ex.check(version) is False, version
            out = capsys.readouterr().out
            assert mistake.en in out and mistake.zh in out, (version, out)


@pytest.mark.parametrize("name,ex", EXERCISES, ids=[n for n, _ in EXERCISES])
def test_every_message_is_bilingual(name, ex):
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert ex.zh                                        # the Chinese edition keeps Momentum, AdaGrad, Dropout
    for m in ex.mistakes:
        assert m.en and cjk.search(m.zh) and not cjk.search(m.en), m
    for v in ex.variants:
        assert cjk.search(v.zh) and not cjk.search(v.en)
    for _en, zh in ex.labels.values():
        assert cjk.search(zh), zh


RETURNING = [s for s in SPECS if s.checker not in ("check_momentum", "check_adagrad")]   # update returns None


@pytest.mark.parametrize("spec", RETURNING, ids=_ids(RETURNING))
def test_a_stub_returning_none_is_not_done_either(spec, capsys):
    if isinstance(spec.solution, type):
        class Ellipses(_StubClass):
            def forward(self, *args, **kwargs):
                ...
        answer = Ellipses
    else:
        def answer(*args, **kwargs):
            ...
    ok, out = _run(spec, answer, capsys)
    assert ok is False
    assert "not done yet" in out and "returns None" in out and "漏了 return" in out, out


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_misuse_raises_type_error(spec):
    with pytest.raises(TypeError, match="pass your function or class itself"):
        spec.check(42)


def test_feedback_is_deterministic_and_leaves_the_random_state_alone(capsys):
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    outs = []
    for spec in SPECS:
        spec.check(spec.unrecognised)
        spec.check(spec.unrecognised)
        out = capsys.readouterr().out
        half = len(out) // 2
        assert out[:half] == out[half:], spec.checker
        outs.append(out)
    assert np.array_equal(np.random.rand(3), expected)


def test_checkers_print_no_warnings(recwarn):
    for spec in SPECS:
        for _, _, fns in spec.mistakes.values():
            for fn in fns:
                spec.check(fn)
    assert len(recwarn) == 0, [str(w.message) for w in recwarn]


def test_two_bugs_in_one_answer_get_both_messages(capsys):
    """Cross-entropy summed and one-hot only; the book's 1-D gradient loop given 2-D and integer arrays."""
    def cross_entropy_sum_one_hot_only(y, t):
        if y.ndim == 1:
            t, y = t.reshape(1, t.size), y.reshape(1, y.size)
        return -np.sum(t * np.log(y + 1e-7))
    spec = next(s for s in SPECS if s.checker == "check_cross_entropy_error")
    ok, out = _run(spec, cross_entropy_sum_one_hot_only, capsys)
    assert ok is False
    assert "Label targets" in out and "the sum over the batch" in out and "case " not in out, out

    spec = next(s for s in SPECS if s.checker == "check_numerical_gradient")

    ok, out = _run(spec, gradient_book_1d_raw, capsys)
    assert ok is False
    assert "walks the *rows*" in out and "With an integer x" in out, out
