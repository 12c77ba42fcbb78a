"""Subcommands of the ``ds2ray`` console script (see :mod:`ds2ray.cli`)."""
