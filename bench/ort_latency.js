// ort_latency.js: onnxruntime's latency for one image, measured as
// bench_engine measures onnxq's: a pseudo-random input of the model's
// shape, a warm-up, then the median of repeated runs.
//   node ort_latency.js MODEL THREADS       (prints milliseconds)
'use strict';
const ort = require('onnxruntime-node');
const [model, threads] = process.argv.slice(2);

(async () => {
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: +threads});
  const name = s.inputNames[0];
  const size = 3 * 224 * 224;
  const x = new Float32Array(size);
  let seed = 88172645463325252n;
  for (let i = 0; i < size; i++) {  // bench_engine's xorshift, same values
    seed ^= (seed << 13n) & 0xffffffffffffffffn;
    seed ^= seed >> 7n;
    seed ^= (seed << 17n) & 0xffffffffffffffffn;
    x[i] = Number(seed % 2001n) / 1000 - 1;
  }
  let shape = [1, 3, 224, 224];
  const feed = () => ({[name]: new ort.Tensor('float32', x, shape)});
  try { await s.run(feed()); } catch (e) { shape = [1, 224, 224, 3]; }
  for (let i = 0; i < 3; i++) await s.run(feed());
  const times = [];
  const start = process.hrtime.bigint();
  while (times.length < 64 && (times.length < 10 || Number(process.hrtime.bigint() - start) < 3e9)) {
    const t = process.hrtime.bigint();
    await s.run(feed());
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(times[times.length >> 1].toFixed(3));
})().catch(e => { console.error(`ort_latency: ${model}: ${e.message}`); process.exit(1); });
