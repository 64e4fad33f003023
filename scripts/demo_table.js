#!/usr/bin/env node
// The before/after table of `make demo`: reads a run's report.json, takes its first export stage
// (the model as loaded) as "before" and its last export stage as "after", times both ONNX files in
// ONNX Runtime at batch 1 and 64 (interleaved rounds, so load from other processes falls on both
// alike; the speed-up is the median of the per-round ratios) and prints top-1 (ours and ORT's on
// the exported file), file size on disk, MACs and latency.
//
//   node scripts/demo_table.js RUN_DIR [--threads 2] [--runs 100]
'use strict';

const fs = require('fs');
const path = require('path');
const {timeModels} = require('./ort_time');

const USAGE = 'usage: node scripts/demo_table.js RUN_DIR [--threads 2] [--runs 100]';

function fail(msg) {
  process.stderr.write(`demo_table.js: ${msg}\n`);
  process.exit(2);
}

function parse(argv) {
  const a = {dir: null, threads: 2, runs: 100};
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === '--threads' || argv[i] === '--runs') {
      const v = argv[++i];
      if (!/^[1-9]\d*$/.test(v || '')) fail(`${argv[i - 1]} needs a positive integer\n${USAGE}`);
      a[argv[i - 1].slice(2)] = Number(v);
    } else if (!a.dir) {
      a.dir = argv[i];
    } else {
      fail(`unexpected argument '${argv[i]}'\n${USAGE}`);
    }
  }
  if (!a.dir) fail(USAGE);
  return a;
}

// The first and last export stages of the report, with the metrics the table shows.
function exportsOf(report, dir) {
  const exp = report.stages.filter((s) => s.stage === 'export' && s.status === 'done');
  if (exp.length < 2) fail(`${dir}/report.json has ${exp.length} finished export stage(s); the table needs two`);
  const input = report.stages[0].details.input_shape;
  if (!Array.isArray(input)) fail(`${dir}/report.json: stage 0 records no input_shape`);
  return [exp[0], exp[exp.length - 1]].map((s) => {
    const file = path.isAbsolute(s.details.onnx) || fs.existsSync(s.details.onnx) ?
        s.details.onnx : path.join(dir, path.basename(s.details.onnx));
    if (!fs.existsSync(file)) fail(`no such file '${file}' (export stage ${s.index})`);
    const ort = s.details.ort_eval || {};
    return {
      index: s.index, file, bytes: fs.statSync(file).size, macs: s.metrics.macs,
      top1: s.metrics.top1, top1Ort: ort.status === 'done' ? ort.top1_ort : null, input,
    };
  });
}

// Median ms of each model and the speed-up before/after at one batch size (scripts/ort_time.js).
async function time(models, batch, runs, threads) {
  const feeds = (m) => (s, ort) => {
    const dims = [batch, ...m.input.slice(1)];
    const data = new Float32Array(dims.reduce((x, y) => x * y, 1));
    for (let i = 0; i < data.length; ++i) data[i] = Math.sin(i * 12.9898) * 0.5;  // deterministic
    return {[s.inputNames[0]]: new ort.Tensor('float32', data, dims)};
  };
  const res = await timeModels(models.map((m) => ({file: m.file, feeds: feeds(m)})),
                               {threads, runs, mode: 'interleaved', warmups: 5});
  return {ms: res.map((r) => r.median_ms), ratio: res[1].ratio};
}

const pct = (v) => (v == null ? '-' : `${(100 * v).toFixed(2)} %`);
const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;
const mega = (v) => `${(v / 1e6).toFixed(2)}M`;

async function main() {
  const a = parse(process.argv.slice(2));
  const reportFile = path.join(a.dir, 'report.json');
  if (!fs.existsSync(reportFile)) fail(`no report.json in '${a.dir}'`);
  let report;
  try {
    report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
  } catch (e) {
    fail(`${reportFile}: ${e.message}`);
  }
  const models = exportsOf(report, a.dir);
  const b1 = await time(models, 1, a.runs * 5, a.threads);
  const b64 = await time(models, 64, a.runs, a.threads);
  const [before, after] = models;
  const rows = [
    ['', 'before', 'after', 'change'],
    ['top-1 (ours)', pct(before.top1), pct(after.top1), `${(100 * (after.top1 - before.top1)).toFixed(2)} pt`],
    ['top-1 (ONNX Runtime)', pct(before.top1Ort), pct(after.top1Ort),
     before.top1Ort != null && after.top1Ort != null ?
         `${(100 * (after.top1Ort - before.top1Ort)).toFixed(2)} pt` : '-'],
    ['ONNX file size', kib(before.bytes), kib(after.bytes), `${(before.bytes / after.bytes).toFixed(2)}x smaller`],
    ['MACs', mega(before.macs), mega(after.macs), `${(before.macs / after.macs).toFixed(2)}x fewer`],
    ['ORT latency, batch 1', `${b1.ms[0].toFixed(3)} ms`, `${b1.ms[1].toFixed(3)} ms`, `${b1.ratio.toFixed(2)}x faster`],
    ['ORT latency, batch 64', `${b64.ms[0].toFixed(2)} ms`, `${b64.ms[1].toFixed(2)} ms`, `${b64.ratio.toFixed(2)}x faster`],
  ];
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) process.stdout.write(r.map((v, c) => (c === 0 ? v.padEnd(w[c]) : v.padStart(w[c]))).join('   ') + '\n');
  process.stdout.write(`\nbefore: ${before.file}\nafter:  ${after.file}\n` +
                       `(ONNX Runtime ${a.threads} threads, median of interleaved runs)\n`);
}

main().catch((e) => fail(e.message));
