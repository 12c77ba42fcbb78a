// ds2ray web page: push-to-talk recording (WebAudio -> 16-bit WAV encoded here) or a file, POSTed
// to ./transcribe; shows the transcript and when each word was said. The Stream button streams the
// microphone over the WebSocket ./stream and shows partial text live. No build step, no dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
const talk = $("talk"), statusEl = $("status"), transcriptEl = $("transcript"), detailsEl = $("details");
const wordsEl = $("words");
const apiKeyEl = $("apikey"), fileEl = $("file");

apiKeyEl.value = localStorage.getItem("ds2ray.apiKey") || "";
apiKeyEl.addEventListener("change", () => localStorage.setItem("ds2ray.apiKey", apiKeyEl.value));

function setState(state, message, isError) {
  document.body.dataset.state = state;
  statusEl.textContent = message || "";
  statusEl.classList.toggle("error", !!isError);
}

// ---- WAV encoding: mono float32 chunks -> RIFF/WAVE 16-bit PCM ---------------------------------
function encodeWav(chunks, sampleRate) {
  const n = chunks.reduce((s, c) => s + c.length, 0);
  const buf = new ArrayBuffer(44 + 2 * n), v = new DataView(buf);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  str(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); str(8, "WAVE");
  str(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true); v.setUint32(28, 2 * sampleRate, true); v.setUint16(32, 2, true);
  v.setUint16(34, 16, true); str(36, "data"); v.setUint32(40, 2 * n, true);
  let o = 44;
  for (const c of chunks) {
    for (let i = 0; i < c.length; i++, o += 2) {
      const s = Math.max(-1, Math.min(1, c[i]));
      v.setInt16(o, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
  }
  return new Blob([buf], { type: "audio/wav" });
}

// ---- sending -----------------------------------------------------------------------------------
async function send(blob, label) {
  setState("sending", `Transcribing ${label}...`);
  const headers = { "Content-Type": blob.type || "application/octet-stream" };
  if (apiKeyEl.value) headers["X-API-Key"] = apiKeyEl.value;
  try {
    const r = await fetch("transcribe", { method: "POST", body: blob, headers });
    const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
    showTranscript(body.text, body.words || []);
    const t = body.timing || {};
    detailsEl.textContent = `${body.duration_s.toFixed(2)} s of ${body.format.toUpperCase()} at ` +
      `${body.sample_rate} Hz, ${body.decoder} decoding, ${Math.round(t.total_ms)} ms on the server`;
    setState("done", "");
  } catch (err) {
    setState("error", `Error: ${err.message}`, true);
  }
}

// The text, one span per word (its times as a tooltip), and a line of word times below it.
function showTranscript(text, words) {
  transcriptEl.replaceChildren();
  wordsEl.textContent = "";
  if (!text) {
    transcriptEl.textContent = "(nothing recognised)";
    return;
  }
  const sep = words.map((w) => w.word).join(" ") === text ? " " : "";  // Mandarin: no spaces
  if (!words.length || words.map((w) => w.word).join(sep) !== text) {
    transcriptEl.textContent = text;
    return;
  }
  const span = (w) => `${w.start.toFixed(2)}-${w.end.toFixed(2)} s`;
  words.forEach((w, i) => {
    if (i && sep) transcriptEl.append(sep);
    const el = document.createElement("span");
    el.textContent = w.word;
    el.title = span(w);
    transcriptEl.append(el);
  });
  wordsEl.textContent = words.map((w) => `${w.word} ${span(w)}`).join(" \u00b7 ");
}

fileEl.addEventListener("change", () => {
  const f = fileEl.files[0];
  if (f) send(f, f.name);
});

// ---- push-to-talk recording --------------------------------------------------------------------
const WORKLET = `class Tap extends AudioWorkletProcessor {
  process(inputs) { const ch = inputs[0][0]; if (ch) this.port.postMessage(ch.slice(0)); return true; }
}
registerProcessor("ds2ray-tap", Tap);`;

let rec = null;  // {stream, ctx, chunks, stopped}

async function startRecording() {
  if (rec) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setState("error", "This page cannot use the microphone here: browsers allow it only on https or " +
      "localhost. Use the file picker instead.", true);
    return;
  }
  const session = rec = { chunks: [], stopped: false };
  talk.classList.add("recording"); talk.setAttribute("aria-pressed", "true");
  setState("recording", "Listening... release to transcribe");
  try {
    session.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    session.ctx = new AudioContext();
    await session.ctx.resume();
    const source = session.ctx.createMediaStreamSource(session.stream);
    if (session.ctx.audioWorklet) {
      const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
      await session.ctx.audioWorklet.addModule(url);
      const node = new AudioWorkletNode(session.ctx, "ds2ray-tap");
      node.port.onmessage = (e) => { if (!session.stopped) session.chunks.push(e.data); };
      source.connect(node);
    } else {  // older browsers
      const node = session.ctx.createScriptProcessor(4096, 1, 1);
      node.onaudioprocess = (e) => { if (!session.stopped) session.chunks.push(e.inputBuffer.getChannelData(0).slice(0)); };
      source.connect(node); node.connect(session.ctx.destination);
    }
  } catch (err) {
    cleanup(session);
    rec = null;
    talk.classList.remove("recording");
    const why = err.name === "NotFoundError" ? "no microphone found" :
                err.name === "NotAllowedError" ? "microphone permission denied" : err.message;
    setState("error", `Cannot record: ${why}. Use the file picker instead.`, true);
    return;
  }
  if (session.stopped) finish(session);  // released while the microphone was opening
}

function cleanup(session) {
  if (session.stream) session.stream.getTracks().forEach((t) => t.stop());
  if (session.ctx) session.ctx.close();
}

function stopRecording() {
  if (!rec) return;
  const session = rec;
  session.stopped = true;
  talk.classList.remove("recording"); talk.setAttribute("aria-pressed", "false");
  if (session.ctx) finish(session);
}

function finish(session) {
  rec = null;
  const rate = session.ctx.sampleRate;
  cleanup(session);
  const samples = session.chunks.reduce((s, c) => s + c.length, 0);
  if (samples < rate * 0.1) {
    setState("error", "Too short: hold the button while you speak.", true);
    return;
  }
  send(encodeWav(session.chunks, rate), `${(samples / rate).toFixed(1)} s of speech`);
}

talk.addEventListener("pointerdown", (e) => { e.preventDefault(); talk.setPointerCapture(e.pointerId); startRecording(); });
talk.addEventListener("pointerup", stopRecording);
talk.addEventListener("pointercancel", stopRecording);
document.addEventListener("keydown", (e) => {
  if (e.code === "Space" && !e.repeat && e.target.tagName !== "INPUT") { e.preventDefault(); startRecording(); }
});
document.addEventListener("keyup", (e) => {
  if (e.code === "Space" && e.target.tagName !== "INPUT") { e.preventDefault(); stopRecording(); }
});

// ---- live streaming over the WebSocket ./stream (protocol: serve/README.md) ---------------------
// The AudioWorklet (static/stream-worklet.js) turns the microphone into 100 ms PCM16 frames at the
// context's own rate (the server resamples); partials replace each other in grey, finals stay.
const streamBtn = $("stream");
let live = null;  // {ws, ctx, media, node, finals, partial, error, stopping}

function streamUrl() {
  const u = new URL("stream", location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

function showLive(session) {
  transcriptEl.replaceChildren();
  wordsEl.textContent = "";
  const done = session.finals.filter((t) => t).join(" ");
  if (done) transcriptEl.append(done);
  if (session.partial) {
    const el = document.createElement("span");
    el.className = "partial";
    el.textContent = (done ? " " : "") + session.partial;
    transcriptEl.append(el);
  }
}

function stopCapture(session) {
  if (session.node) { session.node.port.onmessage = null; session.node.disconnect(); }
  if (session.media) session.media.getTracks().forEach((t) => t.stop());
  if (session.ctx && session.ctx.state !== "closed") session.ctx.close();
  streamBtn.classList.remove("streaming"); streamBtn.setAttribute("aria-pressed", "false");
  streamBtn.textContent = "Stream";
}

async function startStreaming() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setState("error", "This page cannot use the microphone here: browsers allow it only on https or " +
      "localhost. Use the file picker instead.", true);
    return;
  }
  const session = live = { finals: [], partial: "", error: null, stopping: false };
  document.body.dataset.partials = "0";
  streamBtn.classList.add("streaming"); streamBtn.setAttribute("aria-pressed", "true");
  streamBtn.textContent = "Stop";
  transcriptEl.replaceChildren(); detailsEl.textContent = ""; wordsEl.textContent = "";
  setState("connecting", "Opening the microphone...");
  try {
    session.media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    session.ctx = new AudioContext();
    await session.ctx.resume();
    await session.ctx.audioWorklet.addModule("static/stream-worklet.js");
    session.node = new AudioWorkletNode(session.ctx, "ds2ray-pcm16", { processorOptions: { chunkMs: 100 } });
  } catch (err) {
    stopCapture(session);
    live = null;
    const why = err.name === "NotFoundError" ? "no microphone found" :
                err.name === "NotAllowedError" ? "microphone permission denied" : err.message;
    setState("error", `Cannot stream: ${why}.`, true);
    return;
  }
  const ws = session.ws = new WebSocket(streamUrl());
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    const start = { type: "start", sample_rate: session.ctx.sampleRate, encoding: "pcm16" };
    if (apiKeyEl.value) start.api_key = apiKeyEl.value;  // browsers cannot set headers on a WebSocket
    ws.send(JSON.stringify(start));
  };
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "start_ok") {
      session.node.port.onmessage = (m) => { if (ws.readyState === WebSocket.OPEN) ws.send(m.data); };
      session.ctx.createMediaStreamSource(session.media).connect(session.node);
      setState("streaming", "Listening... press Stop to finish");
    } else if (msg.type === "partial") {
      session.partial = msg.text;
      document.body.dataset.partials = String(Number(document.body.dataset.partials || 0) + 1);
      showLive(session);
    } else if (msg.type === "final") {
      session.finals.push(msg.text);
      session.partial = "";
      showLive(session);
    } else if (msg.type === "error") {
      session.error = msg.message;
    }
  };
  ws.onclose = (e) => {
    stopCapture(session);
    if (live === session) live = null;
    if (e.code === 1000) {
      if (!session.finals.some((t) => t)) transcriptEl.textContent = "(nothing recognised)";
      setState("done", "");
    } else {
      setState("error", `Stream closed (${e.code}): ${session.error || e.reason || "connection lost"}`, true);
    }
  };
}

function stopStreaming() {
  const session = live;
  if (!session || session.stopping) return;
  session.stopping = true;
  if (!session.ws || session.ws.readyState !== WebSocket.OPEN) {
    stopCapture(session);
    if (session.ws) session.ws.close();
    live = null;
    setState("idle", "");
    return;
  }
  setState("finishing", "Finishing...");
  if (session.node) session.node.port.postMessage("flush");
  setTimeout(() => {  // let the flushed frame go out first
    stopCapture(session);
    if (session.ws.readyState === WebSocket.OPEN) session.ws.send(JSON.stringify({ type: "stop" }));
  }, 50);
}

streamBtn.addEventListener("click", () => (live ? stopStreaming() : startStreaming()));

window.ds2ray = { encodeWav, streamUrl };
