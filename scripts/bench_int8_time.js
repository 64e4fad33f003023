#!/usr/bin/env node
// ORT latency of several ONNX models in one process, interleaved inference by inference, for
// scripts/bench_int8.sh on a shared machine: each round runs every model once (starting at a
// different model each round), so load from other processes falls on all of them alike. Prints
// one JSON line per model: median and min ms, the median over rounds of the paired ratio
// (first model's ms / this model's ms in the same round), and the ms of every round.
//
//   node scripts/bench_int8_time.js --input X.npy [--threads 2] [--runs 200] [--spin 0|1] NAME=MODEL.onnx ...
//
// --spin 0 (default) sets ORT's session.intra_op.allow_spinning to 0 in every session: with
// spinning on, an idle session's workers spin after each run and steal the cores of the next
// session in the same process. --spin 1 keeps ORT's default (spinning).
'use strict';

const fs = require('fs');
const path = require('path');

const USAGE = 'usage: node scripts/bench_int8_time.js --input X.npy [--threads 2] [--runs 200] [--spin 0|1] ' +
              'NAME=MODEL.onnx ...';

function fail(msg, code) {
  process.stderr.write(`bench_int8_time.js: ${msg}\n`);
  process.exit(code);
}

function parse(argv) {
  const a = {input: null, threads: 2, runs: 200, spin: '0', models: []};
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    if (['--input', '--threads', '--runs', '--spin'].includes(flag)) {
      if (i + 1 >= argv.length) fail(`${flag} needs a value\n${USAGE}`, 2);
      const v = argv[++i];
      if (flag === '--input') a.input = v;
      else if (flag === '--spin') {
        if (v !== '0' && v !== '1') fail(`--spin takes 0 or 1, got '${v}'`, 2);
        a.spin = v;
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
  const options = {graphOptimizationLevel: 'all', logSeverityLevel: 3, intraOpNumThreads: a.threads,
                   extra: {session: {intra_op: {allow_spinning: a.spin}}}};
  const sessions = [];
  for (const m of a.models) {
    const s = await ort.InferenceSession.create(m.file, options);
    const feeds = {[s.inputNames[0]]: new ort.Tensor('float32', x.data, x.dims)};
    for (let w = 0; w < 3; ++w) await s.run(feeds);
    sessions.push({s, feeds, ms: []});
  }
  const n = sessions.length;
  for (let r = 0; r < a.runs; ++r) {
    for (let k = 0; k < n; ++k) {
      const e = sessions[(r + k) % n];
      const t0 = process.hrtime.bigint();
      await e.s.run(e.feeds);
      e.ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const ref = sessions[0].ms;
  a.models.forEach((m, i) => {
    const ms = sessions[i].ms;
    process.stdout.write(JSON.stringify({
      name: m.name, median_ms: round(median(ms)), min_ms: round(Math.min(...ms)),
      paired_ratio: round(median(ms.map((v, r) => ref[r] / v))), runs: ms.length, threads: a.threads,
      spin: Number(a.spin), ms: ms.map(round),
    }) + '\n');
  });
}

main().catch((e) => fail(e.message, 1));
