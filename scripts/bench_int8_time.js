#!/usr/bin/env node
// ORT latency of several ONNX models in one process, for scripts/bench_int8.sh. Two orders:
//   --mode blocks (default): each model runs a block of --runs inferences (after 10 warm-ups),
//     the models one after the other (the order rotates with --rotate), with ORT's default
//     session options (worker threads spin between parallel sections), as a deployment runs it;
//     the ratio is the first model's median ms / this model's median ms.
//   --mode interleaved: each round runs every model once (starting at a different model each
//     round), so load from other processes falls on all of them alike, with spinning off (an idle
//     session's spinning workers would steal the cores of the next session in the same process);
//     the ratio is the median over rounds of the paired ratio (first model's ms / this model's ms
//     in the same round). For a shared machine: without spinning every parallel section pays a
//     thread wake-up, which costs the int8 path (many short sections: ORT's QLinearConv runs one
//     parallel loop per image) more than the fp32 NCHWc path.
// Prints one JSON line per model: median and min ms, the ratio, and the ms of every run.
//
//   node scripts/bench_int8_time.js --input X.npy [--threads 2] [--runs 200] [--mode blocks|interleaved]
//        [--rotate K] NAME=MODEL.onnx ...
'use strict';

const fs = require('fs');
const path = require('path');

const USAGE = 'usage: node scripts/bench_int8_time.js --input X.npy [--threads 2] [--runs 200] ' +
              '[--mode blocks|interleaved] [--rotate K] NAME=MODEL.onnx ...';

function fail(msg, code) {
  process.stderr.write(`bench_int8_time.js: ${msg}\n`);
  process.exit(code);
}

function parse(argv) {
  const a = {input: null, threads: 2, runs: 200, mode: 'blocks', rotate: 0, models: []};
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    if (['--input', '--threads', '--runs', '--mode', '--rotate'].includes(flag)) {
      if (i + 1 >= argv.length) fail(`${flag} needs a value\n${USAGE}`, 2);
      const v = argv[++i];
      if (flag === '--input') a.input = v;
      else if (flag === '--mode') {
        if (v !== 'blocks' && v !== 'interleaved') fail(`--mode takes blocks or interleaved, got '${v}'`, 2);
        a.mode = v;
      } else if (flag === '--rotate') {
        if (!/^\d+$/.test(v)) fail(`--rotate needs an integer >= 0, got '${v}'`, 2);
        a.rotate = Number(v);
      } else {
        if (!/^[1-9]\d*$/.test(v)) fail(`${flag} needs a positive integer, got '${v}'`, 2);
        a[flag.slice(2)] = Number(v);
      }
    } else if (/^[^=]+=.+$/.test(flag)) {
      const k = flag.indexOf('=');
      a.models.push({name: flag.slice(0, k), file: flag.slice(k + 1)});
    } else {
      fail(`unexpected argument '${flag}'\n${USAGE}`, 2);
    }
  }
  if (!a.input || a.models.length === 0) fail(USAGE, 2);
  for (const m of [a.input, ...a.models.map((x) => x.file)])
    if (!fs.existsSync(m)) fail(`no such file '${m}'`, 2);
  return a;
}

// float32 little-endian C-order .npy (what scripts/bench_int8_data.py writes).
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') fail(`'${file}' is not a .npy file`, 2);
  const hlen = buf[6] === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (buf[6] === 1 ? 10 : 12) + hlen;
  const header = buf.toString('latin1', buf[6] === 1 ? 10 : 12, start);
  if (!/'descr':\s*'<f4'/.test(header) || !/'fortran_order':\s*False/.test(header))
    fail(`'${file}' must be float32 in C order (header ${header.trim()})`, 2);
  const dims = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  return {data, dims};
}

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (v) => Math.round(v * 1000) / 1000;

async function main() {
  const a = parse(process.argv.slice(2));
  const ort = require(path.join(__dirname, '..', 'tests', 'ort', 'node_modules', 'onnxruntime-node'));
  const x = readNpy(a.input);
  const blocks = a.mode === 'blocks';
  const options = {graphOptimizationLevel: 'all', logSeverityLevel: 3, intraOpNumThreads: a.threads};
  if (!blocks) options.extra = {session: {intra_op: {allow_spinning: '0'}}};
  const sessions = [];
  for (const m of a.models) {
    const s = await ort.InferenceSession.create(m.file, options);
    const feeds = {[s.inputNames[0]]: new ort.Tensor('float32', x.data, x.dims)};
    for (let w = 0; w < 3; ++w) await s.run(feeds);
    sessions.push({s, feeds, ms: []});
  }
  const n = sessions.length;
  const time = async (e) => {
    const t0 = process.hrtime.bigint();
    await e.s.run(e.feeds);
    e.ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  };
  if (blocks) {
    for (let k = 0; k < n; ++k) {
      const e = sessions[(k + a.rotate) % n];
      for (let w = 0; w < 10; ++w) await e.s.run(e.feeds);
      for (let r = 0; r < a.runs; ++r) await time(e);
    }
  } else {
    for (let r = 0; r < a.runs; ++r)
      for (let k = 0; k < n; ++k) await time(sessions[(r + k) % n]);
  }
  const ref = sessions[0].ms;
  a.models.forEach((m, i) => {
    const ms = sessions[i].ms;
    const ratio = blocks ? median(ref) / median(ms) : median(ms.map((v, r) => ref[r] / v));
    process.stdout.write(JSON.stringify({
      name: m.name, median_ms: round(median(ms)), min_ms: round(Math.min(...ms)), ratio: round(ratio),
      runs: ms.length, threads: a.threads, mode: a.mode, ms: ms.map(round),
    }) + '\n');
  });
}

main().catch((e) => fail(e.message, 1));
