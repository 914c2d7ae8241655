"""The code behind the chapter 7 notebook (CNNs): ``viz`` (7.1-7.3 and 7.6 drawings, the convolution
playground, a convolution written as a matrix), ``im2col_variants`` (7.4.2: im2col as a loop over output
positions, col2im's ``+=``), ``reader_bugs`` (7.4.2-7.5: the reader's bugs, as they wrote them, planted
into the book's layers of ``common.layers`` and a ``SimpleConvNet(fast=False)``) and ``exercises``
(the exercises that answer back).
"""
