"""Corpus builders: each turns a corpus (downloaded, already extracted, or synthesized) into
manifests. ``ds2ray prepare NAME`` runs one.

A builder is a module with:

- ``HELP: str`` - one line for ``ds2ray prepare --help``;
- ``add_arguments(parser)`` - its flags (import nothing heavy at module level);
- ``run(args) -> dict[str, str]`` - builds and returns ``{split name: manifest path}``.

Builders are re-runnable: finished work is skipped, and a run that dies leaves nothing that looks
finished (files are written to temp names and renamed).
"""

from __future__ import annotations

#: name -> module path. Other packages may extend this before the CLI parser is built.
BUILDERS: dict[str, str] = {
    "synth": "ds2ray.data.corpora.synth",
    "librispeech": "ds2ray.data.corpora.librispeech",
    "aishell": "ds2ray.data.corpora.aishell",
    "voxforge": "ds2ray.data.corpora.voxforge",
    "an4": "ds2ray.data.corpora.an4",
    "folder": "ds2ray.data.corpora.folder",
    "noise": "ds2ray.data.corpora.noise",
    "impulse": "ds2ray.data.corpora.impulse",
}
