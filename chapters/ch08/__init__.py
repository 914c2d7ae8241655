"""The code behind the chapter 8 notebook (deep learning): ``viz`` (8.1-8.4 tables and drawings,
detection and masks on a canvas), ``experiments`` (8.1-8.5 experiments at MNIST scale), ``augment``
(8.1.2's data augmentation), ``reinforcement`` (8.5.4: tabular Q-learning on a grid world) and
``exercises`` (the exercises that answer back).
"""
