"""Model backends (speech, and later VLM, LLM, embedder) and bundled-model resolution.

Backends take a model id or a local path and never download at run time. They never import
stages.
"""
