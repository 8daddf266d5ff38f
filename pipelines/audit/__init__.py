"""The hallucination audit: generated text cut into typed claims (``claims.py``), each checked
against the same video's measured evidence by rules (``checks.py``)."""
