"""dlfs-lab's ``common``: the book's library, written from the maths in NumPy. Read it next to the book.

- ``functions``   step, sigmoid, ReLU, softmax, the loss functions (3.2-3.5, 4.2)
- ``gradient``    numerical differentiation, gradient descent (4.3-4.4), the gradient check (5.7.3)
- ``layers``      the layers with forward/backward, in the book's layout (5.4-5.6, 6.3-6.4, 7.4)
- ``util``        im2col / col2im and conv_output_size (7.4), shuffling and smoothing
- ``optimizer``   SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam (6.1)
- ``networks``    TwoLayerNet, MultiLayerNet(Extend), SimpleConvNet, DeepConvNet (4.5-8.1)
- ``trainer``     the mini-batch training loop, with checkpoints (6.x)
- ``fast``        the same layers, computed faster; the networks train with them
- ``config``, ``backend``, ``io``   quick mode and seeding; NumPy or CuPy; safe ``.npz`` files

Figures, experiments and sliders for each notebook live in ``chapters``, not here.
"""
