#!/usr/bin/env node
// Session creation time and run latency of ONNX files in ONNX Runtime, interleaved in one process,
// for scripts/bench_sparse.sh (a dense export against the same model with sparse initializers).
// Each round creates a session per model (the models in turn, starting at a different one each
// round), times the creation, runs 3 warm-ups and --runs timed inferences on --input, and releases
// the session. Prints one JSON line per model: median create ms and median run ms over rounds (each
// round's run figure is the median of its runs) and their ratios to the first model's (> 1: slower).
// The input is a float32 tensor of --shape with fixed pseudo-random values in [-1, 1) (the files
// differ in how their weights are stored, not in what they compute).
//
//   node scripts/bench_sparse_time.js --shape 64,1,28,28 [--threads 2] [--rounds 15] [--runs 20] NAME=MODEL.onnx ...
'use strict';

const path = require('path');

const USAGE = 'usage: node scripts/bench_sparse_time.js --shape N,C,H,W [--threads 2] [--rounds 15] [--runs 20] ' +
              'NAME=MODEL.onnx ...';

function fail(msg, code) {
  process.stderr.write(`bench_sparse_time.js: ${msg}\n`);
  process.exit(code);
}

function parse(argv) {
  const a = {shape: null, threads: 2, rounds: 15, runs: 20, models: []};
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    if (['--shape', '--threads', '--rounds', '--runs'].includes(flag)) {
      if (i + 1 >= argv.length) fail(`${flag} needs a value\n${USAGE}`, 2);
      const v = argv[++i];
      if (flag === '--shape') {
        a.shape = v.split(',').map(Number);
        if (a.shape.some((d) => !Number.isInteger(d) || d < 1)) fail(`--shape takes positive integers, got '${v}'`, 2);
      } else {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) fail(`${flag} takes a positive integer, got '${v}'`, 2);
        a[flag.slice(2)] = n;
      }
    } else if (flag.includes('=')) {
      const eq = flag.indexOf('=');
      a.models.push({name: flag.slice(0, eq), file: flag.slice(eq + 1)});
    } else {
      fail(`unknown argument '${flag}'\n${USAGE}`, 2);
    }
  }
  if (!a.shape || a.models.length === 0) fail(USAGE, 2);
  return a;
}

const median = (xs) => {
  const s = [...xs].sort((p, q) => p - q), m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const round3 = (v) => Math.round(v * 1000) / 1000;

async function main() {
  const a = parse(process.argv.slice(2));
  const modules = process.env.MC_ORT_NODE_MODULES || path.join(__dirname, '..', 'tests', 'ort', 'node_modules');
  let ort;
  try {
    ort = require(path.join(modules, 'onnxruntime-node'));
  } catch (e) {
    fail(`cannot load onnxruntime-node from ${modules}: ${e.message}`, 2);
  }
  const data = new Float32Array(a.shape.reduce((p, d) => p * d, 1));
  let state = 12345;
  for (let i = 0; i < data.length; ++i) {  // a linear congruential generator: the same input every run
    state = (state * 1103515245 + 12345) % 2147483648;
    data[i] = state / 1073741824 - 1;
  }
  const feed = new ort.Tensor('float32', data, a.shape);
  const options = {intraOpNumThreads: a.threads, logSeverityLevel: 3};
  const create = a.models.map(() => []), run = a.models.map(() => []);
  for (let r = 0; r < a.rounds; ++r) {
    for (let j = 0; j < a.models.length; ++j) {
      const k = (j + r) % a.models.length;
      let t0 = process.hrtime.bigint();
      const session = await ort.InferenceSession.create(a.models[k].file, options);
      create[k].push(ms(t0));
      const feeds = {[session.inputNames[0]]: feed};
      for (let w = 0; w < 3; ++w) await session.run(feeds);
      const times = [];
      for (let i = 0; i < a.runs; ++i) {
        t0 = process.hrtime.bigint();
        await session.run(feeds);
        times.push(ms(t0));
      }
      run[k].push(median(times));
      await session.release();
    }
  }
  const c0 = median(create[0]), r0 = median(run[0]);
  a.models.forEach((m, k) => {
    const c = median(create[k]), rr = median(run[k]);
    process.stdout.write(JSON.stringify({
      model: m.name, create_ms: round3(c), create_ratio: round3(c / c0), run_ms: round3(rr), run_ratio: round3(rr / r0),
      rounds: a.rounds, runs: a.runs, threads: a.threads,
    }) + '\n');
  });
}

main().catch((e) => fail(e.stack || String(e), 1));
