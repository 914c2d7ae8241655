"""The code behind the chapter 6 notebook (training techniques):

- ``optimizer_paths``  6.1: the test function f(x, y) = x**2/20 + y**2 and the optimizers' paths over it
- ``experiments``      6.1.8-6.5 on MNIST: optimizers, initial weights, Batch Normalization,
                       weight decay and dropout, hyperparameter search (re-exporting ``activations`` and ``search``)
- ``activations``      6.2.2-6.2.3: hidden-layer activation histograms for several initial weight scales
- ``search``           6.5: validation split, random search on any executor, random vs grid search
- ``parallel``         what the multi-run experiments (weight decay, dropout, the BN grid) share to train
                       their runs on an executor
- ``exercises``        the exercises that answer back
"""
