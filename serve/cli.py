"""``ds2ray serve``: run the transcription service on Ray Serve until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse

from ds2ray.config import MODEL_BACKENDS, PRECISIONS


def register(sub) -> None:
    p = sub.add_parser(
        "serve", help="serve a checkpoint over HTTP with Ray Serve (POST /transcribe, a web page at /)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Start the transcription service and block until Ctrl-C or SIGTERM, then take it down.\n\n"
            "Endpoints: POST /transcribe (raw WAV/FLAC/OGG/MP3 bytes or a multipart upload, any sample\n"
            "rate, any length up to --max-seconds: cut at pauses, the segments batched through the model)\n"
            "-> JSON {text, words, segments: [{start, end, text, words}], duration_s, decoder, timing};\n"
            "GET /healthz; GET / (a page that records from the browser's microphone or takes a file);\n"
            "WebSocket /stream (partial and final text while you speak; needs --stream-checkpoint).\n\n"
            "Access: when the environment variable named by --api-key-env (default DS2RAY_API_KEY) is set,\n"
            "/transcribe needs that key in 'X-API-Key' or 'Authorization: Bearer'. Audio is never written\n"
            "to disk.\n\n"
            "Ray: without --address a local Ray starts for this process. For a cluster, run\n"
            "`serve run serve/serve_config.yaml` (see serve/README.md) or pass --address auto.\n\n"
            "Without --checkpoint the shipped English model 'en' serves (beam search with its LM).\n\n"
            "example: ds2ray serve --checkpoint runs/demo/best --lm lm.bin --tuned best.json --port 8000"),
    )
    from ds2ray.pretrained import DEFAULT_MODEL

    p.add_argument("--checkpoint", default=DEFAULT_MODEL,
                   help="checkpoint folder or model.pt (local path or fsspec URL), or a shipped model's name "
                        f"(default {DEFAULT_MODEL!r}: the shipped English model, with its LM and tuned alpha/beta)")
    p.add_argument("--decoder", choices=("greedy", "beam"), default=None,
                   help="decoding: greedy, or beam search with --lm (default: beam when --lm is given or the "
                        "checkpoint is a shipped model with an LM, else greedy)")
    p.add_argument("--lm", default=None, help="KenLM model (ARPA or binary) for beam decoding (default with a shipped "
                                              "model: its own LM and tuned.json, unless --lm or --tuned is given)")
    p.add_argument("--unigrams", default=None, help="the LM's word list (default: from the ARPA file, or the "
                                                    ".unigrams.txt next to a binary LM)")
    p.add_argument("--tuned", default=None,
                   help="best.json from tuning: its alpha and beta are used, and its other decoder settings where "
                        "no flag sets them")
    p.add_argument("--alpha", type=float, default=None, help="LM weight (default 0.5; --tuned overrides)")
    p.add_argument("--beta", type=float, default=None, help="word insertion bonus (default 1.5; --tuned overrides)")
    p.add_argument("--beam-width", type=int, default=None, help="beam width (default 100)")
    p.add_argument("--beam-prune-logp", type=float, default=None,
                   help="drop prefixes scoring this far below the best (default -10)")
    p.add_argument("--token-min-logp", type=float, default=None,
                   help="characters below this log-prob in a frame are not expanded (default -5)")
    p.add_argument("--unk-score-offset", type=float, default=None,
                   help="added to the LM score of words outside the LM's word list (default -10)")
    p.add_argument("--hotwords", nargs="+", default=None, metavar="'WORD,PHRASE:WEIGHT,...'",
                   help="words or phrases to favour in beam search, each with an optional weight (several "
                        "arguments are joined with commas); a request may send its own ('hotwords' query "
                        "parameter or form field)")
    p.add_argument("--hotword-weight", type=float, default=None, help="extra score per hotword (default 10)")
    p.add_argument("--replicas", type=int, default=1, help="model replicas (default 1)")
    p.add_argument("--max-replicas", type=int, default=0,
                   help="autoscale model replicas between --replicas and this many (default: no autoscaling)")
    p.add_argument("--num-cpus", type=float, default=None,
                   help="CPUs per model replica; the model uses as many threads (default 1)")
    p.add_argument("--model-threads", type=int, default=None,
                   help="model threads per replica when not as many as --num-cpus (e.g. 2 on a 1-CPU replica of a "
                        "2-core machine: one request uses both cores)")
    p.add_argument("--solo-threads", type=int, default=None,
                   help="model threads for a lone request (nothing else in flight on its replica); batches keep "
                        "--model-threads (e.g. --replicas 2 --solo-threads 2 on 2 cores)")
    p.add_argument("--use-gpu", action="store_true", help="one GPU per model replica")
    p.add_argument("--no-batching", action="store_true", help="run one request at a time per replica")
    p.add_argument("--colocate", action="store_true",
                   help="run the model in the HTTP front replica itself (one deployment, no Ray call per clip: "
                        "lower latency on one node; --replicas sets how many)")
    p.add_argument("--max-batch-seconds", type=int, default=None,
                   help="cap on the audio in one batch, in seconds (default 60; >= --max-segment-seconds)")
    p.add_argument("--batch-wait-ms", type=float, default=None,
                   help="how long a replica waits for a batch to fill (default 5 ms)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000; 0 picks a free one)")
    p.add_argument("--max-body-mb", type=float, default=None,
                   help="largest request body in MiB (default 225: 2 h of 16 kHz 16-bit WAV): 413 past it")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="longest recording in seconds (default 7200): 413 past it")
    p.add_argument("--max-segment-seconds", type=float, default=None,
                   help="uploads are cut at pauses; a segment reaching this length is cut at its quietest point "
                        "(default 20)")
    p.add_argument("--backend", choices=MODEL_BACKENDS, default="auto",
                   help="run the model with PyTorch or onnxruntime (default auto: onnx for a .onnx checkpoint)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="torch backend: operands of the model's big products (default auto: bf16 on a CPU with "
                        "native bf16, ~1.5x faster; fp32 elsewhere)")
    g = p.add_argument_group("streaming (WebSocket /stream, see serve/README.md)")
    g.add_argument("--stream-checkpoint", default=None,
                   help="an online (unidirectional) checkpoint for /stream, run in the front replicas; without it "
                        "/stream refuses connections (close 4503)")
    g.add_argument("--stream-num-cpus", type=float, default=None,
                   help="CPUs (= model threads) each front replica adds for its streams (default 1)")
    g.add_argument("--stream-max-streams", type=int, default=None,
                   help="open streams per front replica; more are closed with 1013 (default 8)")
    g.add_argument("--stream-max-frame-bytes", type=int, default=None,
                   help="largest binary audio frame; larger ones close the stream with 1009 (default 65536)")
    g.add_argument("--stream-idle-timeout", type=float, default=None,
                   help="seconds without a message before a stream is closed with 4408 (default 10)")
    g.add_argument("--stream-max-seconds", type=float, default=None,
                   help="longest stream, in seconds of audio or of time open; then 4413 (default 600)")
    g.add_argument("--stream-decoder", choices=("greedy", "beam"), default=None,
                   help="decoder of /stream (default greedy); beam uses the LM and tuned weights of --decoder beam, "
                        "or the shipped model's (e.g. en) when the HTTP decoder is greedy")
    p.add_argument("--api-key-env", default=None,
                   help="environment variable holding the API key (default DS2RAY_API_KEY); unset = no key")
    p.add_argument("--address", default=None,
                   help="Ray cluster to deploy to ('auto', 'ray://host:10001', ...); default: start a local Ray")
    p.set_defaults(func=run)


def hotwords_from_args(args: argparse.Namespace) -> tuple | None:
    """``--hotwords`` (one ``"word,phrase:weight"`` spec, or several words) -> ``(phrase, weight)`` pairs."""
    from ds2ray.decode.hotwords import parse_hotwords

    if not args.hotwords:
        return None
    weight = args.hotword_weight if args.hotword_weight is not None else 10.0
    return parse_hotwords(",".join(args.hotwords), weight)


def config_from_args(args: argparse.Namespace):
    """The :class:`~serve.config.ServeConfig` the flags describe (defaults where a flag is absent)."""
    from ds2ray.pretrained import decoder_defaults
    from serve.config import ServeConfig

    lm, tuned = args.lm, args.tuned
    shipped = decoder_defaults(args.checkpoint) if lm is None and tuned is None else None
    if shipped is not None and args.decoder != "greedy":  # a shipped model decodes with its LM by default
        lm, tuned = shipped.lm_path, shipped.tuned_path
    decoder = args.decoder or ("beam" if lm else "greedy")
    optional = {
        "alpha": args.alpha, "beta": args.beta, "beam_width": args.beam_width, "beam_prune_logp": args.beam_prune_logp,
        "token_min_logp": args.token_min_logp, "unk_score_offset": args.unk_score_offset,
        "hotwords": hotwords_from_args(args), "hotword_weight": args.hotword_weight,
        "num_cpus": args.num_cpus, "model_threads": args.model_threads,
        "solo_threads": args.solo_threads,
        "max_batch_seconds": args.max_batch_seconds, "max_body_mb": args.max_body_mb,
        "max_seconds": args.max_seconds, "max_segment_seconds": args.max_segment_seconds,
        "api_key_env": args.api_key_env, "lm_path": lm,
        "unigrams": args.unigrams, "tuned": tuned,
        "stream_checkpoint": args.stream_checkpoint, "stream_num_cpus": args.stream_num_cpus,
        "stream_max_streams": args.stream_max_streams, "stream_max_frame_bytes": args.stream_max_frame_bytes,
        "stream_idle_timeout_s": args.stream_idle_timeout, "stream_max_seconds": args.stream_max_seconds,
        "stream_decoder": args.stream_decoder,
        "batch_wait_s": args.batch_wait_ms / 1000 if args.batch_wait_ms is not None else None,
    }
    fields = {k: v for k, v in optional.items() if v is not None}
    if args.max_segment_seconds is not None and args.max_batch_seconds is None:
        fields["max_batch_seconds"] = max(ServeConfig.max_batch_seconds, int(-(-args.max_segment_seconds // 1)))
    return ServeConfig(checkpoint=args.checkpoint, decoder=decoder, replicas=args.replicas, backend=args.backend,
                       precision=args.precision,
                       max_replicas=args.max_replicas, use_gpu=args.use_gpu, batching=not args.no_batching,
                       colocate=args.colocate, host=args.host, port=args.port, **fields)


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from serve.app import start_server

    config = config_from_args(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = start_server(config, address=args.address)
    try:
        cfg = server.config
        auth = f"API key required (from ${cfg.api_key_env})" if cfg.api_key_sha256 else "no API key"
        if cfg.stream_checkpoint:
            print(f"ds2ray serve: streaming at {server.url.replace('http', 'ws', 1)}/stream with {cfg.stream_checkpoint}",
                  flush=True)
        print(f"ds2ray serve: {server.url}/  (POST {server.url}/transcribe, GET {server.url}/healthz; {cfg.decoder} "
              f"decoding, {cfg.replicas} replica(s), {auth}). Ctrl-C stops.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        print("ds2ray serve: stopping", flush=True)
        server.stop()
    return 0
