"""The code behind the chapter 8 notebook (deep learning): ``viz`` (8.1-8.4 tables and drawings),
``experiments`` (8.1-8.5 experiments at MNIST scale) and ``augment`` (8.1.2's data augmentation).
``exercises`` (the exercises that answer back).
"""
