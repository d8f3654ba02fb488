// ort_score.js: score a model with onnxruntime (npm onnxruntime-node) on
// onnxq's cached 8-bit crops, so both see the very same pixels.
//   node ort_score.js MODEL PIXELS.bin PRESET PREDICTIONS.csv THREADS
// Writes onnxq eval --predictions' CSV format and prints top-1, top-5 and
// the median latency of one image.
'use strict';
const ort = require('onnxruntime-node');
const fs = require('fs');
const [model, cache, preset, out, threads] = process.argv.slice(2);
const P = {
  caffe: {bgr: 1, scale: 1, mean: [123.68, 116.779, 103.939], std: [1, 1, 1]},
  torch: {bgr: 0, scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]},
  tf: {bgr: 0, scale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1]},
}[preset];
const side = 224, size = side * side * 3;
const buf = fs.readFileSync(cache);
const n = Math.round(buf.length / (size + 1));
const ok = buf.subarray(0, n), px = buf.subarray(n);

// The same float arithmetic as onnxq's to_input (src/eval.c).
function input(i, nhwc) {
  const x = new Float32Array(size);
  for (let c = 0; c < 3; c++) {
    const src = P.bgr ? 2 - c : c;
    const scale = Math.fround(Math.fround(P.scale) / Math.fround(P.std[src]));
    const shift = Math.fround(Math.fround(P.mean[src]) / Math.fround(P.std[src]));
    for (let k = 0; k < side * side; k++) {
      const v = Math.fround(Math.fround(px[i * size + 3 * k + src] * scale) - shift);
      if (nhwc) x[3 * k + c] = v; else x[c * side * side + k] = v;
    }
  }
  return x;
}

(async () => {
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: +threads});
  const name = s.inputNames[0];
  const feed = (x, nhwc) => ({[name]: new ort.Tensor('float32', x,
                                                     nhwc ? [1, side, side, 3] : [1, 3, side, side])});
  let nhwc = false;
  try { await s.run(feed(new Float32Array(size), false)); } catch (e) { nhwc = true; }
  let top1 = 0, top5 = 0, count = 0;
  const times = [], rows = ['image,label,top1,top2,top3,top4,top5'];
  for (let i = 0; i < n; i++) {
    if (!ok[i]) continue;
    const x = input(i, nhwc);
    const t = process.hrtime.bigint();
    const r = await s.run(feed(x, nhwc));
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    const y = r[s.outputNames[0]].data;
    const off = y.length === 1001 ? 1 : 0; // background first
    const best = Array.from(y.keys()).slice(off).sort((a, b) => y[b] - y[a] || a - b)
                      .slice(0, 5).map(v => v - off);
    top1 += best[0] === i;    // image i of the sample is class i
    top5 += best.includes(i);
    rows.push(`#${i},${i},${best.join(',')}`);
    count++;
  }
  fs.writeFileSync(out, rows.join('\n') + '\n');
  times.sort((a, b) => a - b);
  console.log(`${(100 * top1 / count).toFixed(2)} ${(100 * top5 / count).toFixed(2)} ` +
              `${times[times.length >> 1].toFixed(2)}`);
})().catch(e => { console.error(e.message); process.exit(1); });
