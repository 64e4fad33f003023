#!/usr/bin/env node
// ORT latency of several ONNX models in one process, for scripts/bench_int8.sh and the other int8
// benches. The two orders (--mode blocks, the default: each model a block of --runs inferences with
// ORT's default session options, as a deployment runs it; --mode interleaved: one inference per model
// per round with spinning off, for a machine with other load) and their speed-ups are
// scripts/ort_time.js's, shared with scripts/demo_table.js. --rotate K starts the blocks at model K.
// Prints one JSON line per model: median and min ms, the ratio, and the ms of every run.
//
//   node scripts/bench_int8_time.js --input X.npy [--threads 2] [--runs 200] [--mode blocks|interleaved]
//        [--rotate K] NAME=MODEL.onnx ...
'use strict';

const fs = require('fs');
const {MODES, timeModels} = require('./ort_time');

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
        if (!MODES.includes(v)) fail(`--mode takes ${MODES.join(' or ')}, got '${v}'`, 2);
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

const round = (v) => Math.round(v * 1000) / 1000;

async function main() {
  const a = parse(process.argv.slice(2));
  const x = readNpy(a.input);
  const models = a.models.map((m) => ({
    file: m.file, feeds: (s, ort) => ({[s.inputNames[0]]: new ort.Tensor('float32', x.data, x.dims)}),
  }));
  const res = await timeModels(models, {threads: a.threads, runs: a.runs, mode: a.mode, rotate: a.rotate});
  a.models.forEach((m, i) => {
    const r = res[i];
    process.stdout.write(JSON.stringify({
      name: m.name, median_ms: round(r.median_ms), min_ms: round(r.min_ms), ratio: round(r.ratio),
      runs: r.ms.length, threads: a.threads, mode: a.mode, ms: r.ms.map(round),
    }) + '\n');
  });
}

main().catch((e) => fail(e.message, 1));
