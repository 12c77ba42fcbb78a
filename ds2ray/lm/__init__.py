"""KenLM n-gram language models: corpus preprocessing (:mod:`.corpus`), building with lmplz and
build_binary (:mod:`.build`) and loading with clear errors plus a per-process cache (:mod:`.load`).

Imports stay light: the submodules load ``kenlm`` only when a model is actually read.
"""
