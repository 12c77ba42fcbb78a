"""Data layer: manifests, audio loading, features, normalisation, vocabularies, corpora."""
