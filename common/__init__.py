"""dlfs-lab's small deep-learning library, written from the maths in NumPy.

One idea per module, named as in the book:

- ``functions``   activations, softmax, loss functions
- ``gradient``    numerical differentiation and gradient descent
- ``layers``      layers with explicit ``forward`` / ``backward``
- ``util``        im2col / col2im, conv_output_size, shuffling, smoothing
- ``optimizers``  SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam
- ``networks``    TwoLayerNet, MultiLayerNet(Extend), SimpleConvNet, DeepConvNet
- ``trainer``     a mini-batch training loop with a progress bar and a history
- ``config``      the one global switch (quick mode) and seeding
- ``plots`` / ``widgets``  figure functions and slider wrappers used by the notebooks
"""
