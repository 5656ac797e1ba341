"""ipscope: intellectual-property evidence for the generative-AI era.

Python API (the CLI calls only these)::

    from ipscope.index import build_index, Index
    from ipscope.trace import trace

    build_index(["books/"], "books.idx")
    report = trace(Index.open("books.idx"), open("output.txt").read(), "output.txt")
"""

__version__ = "0.1.0"
