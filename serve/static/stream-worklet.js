// AudioWorklet for the page's Stream button: microphone samples (float32, the context's rate) ->
// 16-bit little-endian PCM frames of about `chunkMs` milliseconds, posted to the page as
// ArrayBuffers (transferred, not copied), which sends each one as a binary WebSocket frame to /stream.
"use strict";

class Pcm16Frames extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const ms = (options && options.processorOptions && options.processorOptions.chunkMs) || 100;
    this.frame = new Int16Array(Math.max(128, Math.round(sampleRate * ms / 1000)));
    this.filled = 0;
    this.port.onmessage = (e) => { if (e.data === "flush") this.flush(); };
  }

  flush() {
    if (!this.filled) return;
    const out = this.frame.slice(0, this.filled);
    this.port.postMessage(out.buffer, [out.buffer]);
    this.filled = 0;
  }

  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) {
      for (let i = 0; i < ch.length; i++) {
        const s = Math.max(-1, Math.min(1, ch[i]));
        this.frame[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
        if (this.filled === this.frame.length) this.flush();
      }
    }
    return true;
  }
}

registerProcessor("ds2ray-pcm16", Pcm16Frames);
