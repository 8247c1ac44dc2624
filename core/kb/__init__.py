"""The knowledge base: the store's own documents, indexed for grounded drafts.

``readers`` turns files into sections, ``chunking`` cuts sections into passages,
``embedder`` turns passages into vectors, ``index`` keeps them (chromadb plus a
SQLite manifest that makes re-indexing incremental and resumable), ``keyword``
and ``search`` retrieve them, and ``grounding`` puts them into drafts and checks
the draft against them.
"""
