"""Helpers shared by tests, benchmarks and ``ds2ray profile``: seeded signals (:mod:`.signals`),
synthetic CTC log-probs (:mod:`.logprobs`), tiny n-gram LMs (:mod:`.lm`), untrained and overfit
checkpoints (:mod:`.checkpoints`, :mod:`.overfit`), a tiny shared-data tree (:mod:`.shared_data`) and
a misbehaving HTTP server (:mod:`.http_server`)."""
