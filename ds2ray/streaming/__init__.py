"""Streaming recognition with a unidirectional DS2: PCM chunks in, partial and final text out.

Read in pipeline order: :mod:`.frontend` (samples -> feature frames), :mod:`.state` (the model
run chunk by chunk, conv context and RNN state carried), :mod:`.decoding` (streaming decoders and
their seam), :mod:`.endpoint` (where segments end), :mod:`.recognizer` (all four per stream).
"""

from ds2ray.streaming.decoding import (BeamStreamDecoder, DecoderFactory, GreedyStreamDecoder, StreamDecoder,
                                       beam_stream_decoder)
from ds2ray.streaming.endpoint import EndpointConfig, EnergyEndpointer
from ds2ray.streaming.recognizer import (RecognizerStream, StreamEvent, StreamingRecognizer,
                                         load_streaming_recognizer, pcm_to_float)

__all__ = ["BeamStreamDecoder", "DecoderFactory", "EndpointConfig", "EnergyEndpointer", "GreedyStreamDecoder",
           "RecognizerStream", "StreamDecoder", "StreamEvent", "StreamingRecognizer", "beam_stream_decoder",
           "load_streaming_recognizer", "pcm_to_float"]
