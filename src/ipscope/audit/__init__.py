"""Audit: decide, with evidence, which training documents may be used (``ipscope audit``)."""
