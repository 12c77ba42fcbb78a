"""One stage system: a recipe's stages as typed library functions, run in order.

- :mod:`~ds2ray.pipeline.config`: :class:`RecipeConfig`, the serialized dataclasses of ``config.yaml``;
- :mod:`~ds2ray.pipeline.experiment`: the experiment folder, the skip-if-done rule, the atomic write;
- :mod:`~ds2ray.pipeline.data`: prepare, mean-std, vocab, lm;
- :mod:`~ds2ray.pipeline.train`, :mod:`~ds2ray.pipeline.tune`, :mod:`~ds2ray.pipeline.test`,
  :mod:`~ds2ray.pipeline.infer`: the other stages (and the functions ``ds2ray tune``/``infer`` share);
- :mod:`~ds2ray.pipeline.runner`: stages N..M in order, each logged as ``== stage NAME``.

Each stage is ``stage(exp: Experiment, *, force=False, ...) -> StageResult``. The ``ds2ray`` CLI, the
recipes in ``jobs/`` and ``make demo`` call these functions; nothing goes through argv.
"""
