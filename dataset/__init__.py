"""MNIST for dlfs-lab: ``from dataset.mnist import load_mnist``."""
