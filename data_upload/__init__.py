"""``ds2ray upload``: pack a manifest's audio into WebDataset-style tar shards on S3 or any fsspec
destination, verify them, and write cloud manifests that ``ds2ray`` reads like local ones.

Modules, in pipeline order: ``plan`` (which entries go in which shard), ``pack`` (tar + checksums),
``storage`` (destination, retries, credential scrubbing), ``upload`` (the run), ``cli``. The library
side is :mod:`ds2ray.tarmember` (member references), :mod:`ds2ray.data.shards` (reading shards and
the index) and :mod:`ds2ray.data.shard_stream` (streaming); ``ds2ray`` never imports this package.
"""
