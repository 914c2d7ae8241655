"""The code behind each notebook: ``chapters.chNN`` holds notebook chNN's figures, experiments,
widgets and exercise checkers; ``chapters.figures`` the figure and slider helpers they share.

The book's own library — what a reader writes alongside the book — is ``common``; nothing here is
needed to train or run a network.
"""
