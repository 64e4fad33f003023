#!/usr/bin/env node
// ONNX Runtime (onnxruntime-node) evaluation for `compress`: the `export` stage's `ort_eval` runs
// this script to measure the exported file's accuracy in ONNX Runtime. compress sends batches on
// stdin and reads the model's outputs back on stdout, one batch at a time (lock step).
//
//   node ort_eval.js --probe [--modules DIR]
//       prints {"onnxruntime": VERSION, "module": PATH} and exits 0 when onnxruntime-node loads
//   node ort_eval.js MODEL.onnx [--modules DIR] [--threads N]
//       evaluates: see the protocol below
//   node ort_eval.js MODEL.onnx --latency B [--runs N] [--warmup W] [--modules DIR] [--threads N]
//                    [--inputs A.npy[,B.npy...]]
//       times one inference at batch B (float inputs, seeded values; the other dims from the
//       model's first input): W untimed runs, then N timed ones; prints
//       {"batch": B, "runs": N, "median_ms": ..., "min_ms": ..., "onnxruntime": VERSION} and exits.
//       --inputs: feed these .npy files instead, one per graph input in order (float32, int64 or
//       int32; token ids, masks), the batch being their first dimension
//
// --modules DIR: a node_modules folder holding onnxruntime-node (default: Node's own resolution
// from this file's folder and NODE_PATH).
//
// Protocol, little-endian, on fd 0 / fd 1 (fd 1 carries nothing else; messages go to stderr):
//   compress -> script, per batch: int64 ndim, ndim x int64 dims, float32 data (C order).
//                                  ndim 0 ends the stream.
//   script -> compress, per batch: int64 rows, int64 cols, rows x cols float32: the first graph
//                                  output of the batch, flattened to [rows, cols].
// A model with a fixed batch dimension B is run on slices of B samples (the last one padded).
// Exit codes: 0 ok, 2 bad usage, 1 ONNX Runtime could not be loaded or failed.
'use strict';

const fs = require('fs');
const path = require('path');

function die(msg, code) {
  process.stderr.write(`ort_eval.js: error: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const args = {model: null, modules: null, threads: 0, probe: false, latency: 0, runs: 20, warmup: 3, inputs: null};
  const positive = (name, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) die(`${name} needs an integer >= ${min}`, 2);
    return n;
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`, 2);
      return argv[++i];
    };
    if (a === '--probe') args.probe = true;
    else if (a === '--modules') args.modules = value();
    else if (a === '--threads') {
      args.threads = Number(value());
      if (!Number.isInteger(args.threads) || args.threads < 0) die('--threads needs an integer >= 0', 2);
    } else if (a === '--latency') args.latency = positive(a, value(), 1);
    else if (a === '--runs') args.runs = positive(a, value(), 1);
    else if (a === '--warmup') args.warmup = positive(a, value(), 0);
    else if (a === '--inputs') args.inputs = value().split(',');
    else if (a.startsWith('-')) die(`unknown option '${a}'`, 2);
    else if (args.model === null) args.model = a;
    else die(`unexpected argument '${a}'`, 2);
  }
  if (!args.probe && args.model === null) die('no model file given (usage: ort_eval.js MODEL.onnx | --probe)', 2);
  if (args.inputs && !args.latency) die('--inputs goes with --latency', 2);
  return args;
}

// onnxruntime-node and its package.json path, from --modules or Node's resolution.
function loadOrt(modules) {
  const name = modules ? path.join(path.resolve(modules), 'onnxruntime-node') : 'onnxruntime-node';
  let pkg;
  try {
    pkg = require.resolve(`${name}/package.json`);
  } catch (e) {
    die(`onnxruntime-node not found (${modules ? `in ${modules}` : 'by Node\'s module resolution'}): ${e.message.split('\n')[0]}`, 1);
  }
  try {
    return {ort: require(name), version: require(pkg).version, module: path.dirname(pkg)};
  } catch (e) {
    die(`onnxruntime-node in ${path.dirname(pkg)} does not load: ${e.message.split('\n')[0]}`, 1);
  }
  return null;
}

// Blocking reads and writes on fd 0 / 1 (retried on EAGAIN: the fds may be non-blocking).
function sleepMs(ms) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); }

function readExact(n) {
  const buf = Buffer.allocUnsafe(n);
  let got = 0;
  while (got < n) {
    let k;
    try {
      k = fs.readSync(0, buf, got, n - got, null);
    } catch (e) {
      if (e.code === 'EAGAIN') { sleepMs(1); continue; }
      throw e;
    }
    if (k === 0) return got === 0 ? null : die(`input ended inside a message (${got} of ${n} bytes)`, 2);
    got += k;
  }
  return buf;
}

function writeAll(buf) {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off, buf.length - off);
    } catch (e) {
      if (e.code === 'EAGAIN') { sleepMs(1); continue; }
      throw e;
    }
  }
}

function readBatch() {
  const head = readExact(8);
  if (head === null) die('input ended without the end marker', 2);
  const ndim = Number(head.readBigInt64LE(0));
  if (ndim === 0) return null;
  if (ndim < 1 || ndim > 8) die(`bad batch header (ndim ${ndim})`, 2);
  const dimsBuf = readExact(8 * ndim);
  const dims = [];
  for (let k = 0; k < ndim; ++k) dims.push(Number(dimsBuf.readBigInt64LE(8 * k)));
  const numel = dims.reduce((a, b) => a * b, 1);
  const bytes = readExact(4 * numel);
  const data = new Float32Array(numel);
  new Uint8Array(data.buffer).set(bytes);
  return {dims, data};
}

async function runBatch(ort, session, fixedBatch, batch) {
  const n = batch.dims[0];
  const per = batch.data.length / Math.max(n, 1);
  const step = fixedBatch > 0 ? fixedBatch : n;
  const rows = [];
  let cols = 0;
  for (let s = 0; s < n; s += step) {
    const take = Math.min(step, n - s);
    const x = new Float32Array(step * per);  // zero padding for a short last slice
    x.set(batch.data.subarray(s * per, (s + take) * per));
    const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', x, [step, ...batch.dims.slice(1)])};
    const out = (await session.run(feeds))[session.outputNames[0]];
    cols = out.data.length / step;
    rows.push(Float32Array.from(out.data.subarray(0, take * cols)));
  }
  const head = Buffer.alloc(16);
  head.writeBigInt64LE(BigInt(n), 0);
  head.writeBigInt64LE(BigInt(cols), 8);
  writeAll(head);
  for (const r of rows) writeAll(Buffer.from(r.buffer, r.byteOffset, r.byteLength));
}

// An .npy file (version 1 or 2, C order, little-endian float32 / int64 / int32) as an ort.Tensor.
function readNpy(ort, file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    die(`cannot read input '${file}': ${e.message}`, 2);
  }
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') die(`'${file}' is not an .npy file`, 2);
  const wide = buf[6] >= 2;
  const hlen = wide ? buf.readUInt32LE(8) : buf.readUInt16LE(8);
  const start = (wide ? 12 : 10) + hlen;
  const header = buf.toString('latin1', wide ? 12 : 10, start);
  const descr = (/'descr':\s*'([^']*)'/.exec(header) || [])[1];
  const shape = ((/'shape':\s*\(([^)]*)\)/.exec(header) || [])[1] || '').split(',').map((d) => d.trim()).filter((d) => d)
    .map(Number);
  if (/'fortran_order':\s*True/.test(header)) die(`'${file}' is in Fortran order`, 2);
  const types = {'<f4': ['float32', Float32Array], '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array]};
  if (!types[descr]) die(`'${file}' holds ${descr}; --inputs reads float32, int64 and int32`, 2);
  const [type, View] = types[descr];
  const bytes = buf.subarray(start);
  const data = new View(bytes.length / View.BYTES_PER_ELEMENT);
  Buffer.from(data.buffer).set(bytes);
  return new ort.Tensor(type, data, shape);
}

// The latency feeds: the --inputs files by graph-input order, else seeded uniform [-1, 1) float
// values of the one input's shape at batch args.latency.
function latencyFeeds(ort, session, args) {
  if (args.inputs) {
    if (args.inputs.length !== session.inputNames.length)
      die(`the model has ${session.inputNames.length} inputs; --inputs gave ${args.inputs.length}`, 2);
    const feeds = {};
    session.inputNames.forEach((name, k) => (feeds[name] = readNpy(ort, args.inputs[k])));
    return feeds;
  }
  if (session.inputNames.length !== 1)
    die(`the model has ${session.inputNames.length} inputs; --latency feeds one unless --inputs gives them`, 2);
  const meta = (session.inputMetadata || [])[0];
  if (!meta || !meta.isTensor || !Array.isArray(meta.shape)) die('the model\'s first input has no tensor shape', 2);
  const dims = meta.shape.map((d, k) => (k === 0 ? (typeof d === 'number' && d > 0 ? d : args.latency) : d));
  if (dims.some((d) => typeof d !== 'number' || d <= 0)) die(`input shape [${meta.shape}] has symbolic dims besides the batch`, 2);
  const numel = dims.reduce((a, b) => a * b, 1);
  const x = new Float32Array(numel);
  let state = 12345;
  for (let k = 0; k < numel; ++k) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    x[k] = state / 2147483648 - 1;
  }
  return {[session.inputNames[0]]: new ort.Tensor('float32', x, dims)};
}

// Median and minimum wall time of session.run (ms) on latencyFeeds.
async function timeModel(ort, session, args) {
  const feeds = latencyFeeds(ort, session, args);
  const batch = feeds[session.inputNames[0]].dims[0];
  for (let k = 0; k < args.warmup; ++k) await session.run(feeds);
  const times = [];
  for (let k = 0; k < args.runs; ++k) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const n = times.length;
  const median = n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
  return {batch, runs: n, median_ms: median, min_ms: times[0]};
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const {ort, version, module} = loadOrt(args.modules);
  if (args.probe) {
    writeAll(Buffer.from(JSON.stringify({onnxruntime: version, module}) + '\n'));
    return;
  }
  if (!fs.existsSync(args.model)) die(`model file '${args.model}' does not exist`, 2);
  const options = {graphOptimizationLevel: 'all', logSeverityLevel: 3};
  if (args.threads) options.intraOpNumThreads = args.threads;
  let session;
  try {
    session = await ort.InferenceSession.create(args.model, options);
  } catch (e) {
    die(`ONNX Runtime ${version} cannot load '${args.model}': ${e.message}`, 1);
  }
  if (args.latency > 0) {
    let r;
    try {
      r = await timeModel(ort, session, args);
    } catch (e) {
      die(`ONNX Runtime ${version} failed to run '${args.model}' at batch ${args.latency}: ${e.message}`, 1);
    }
    writeAll(Buffer.from(JSON.stringify({...r, onnxruntime: version}) + '\n'));
    return;
  }
  if (session.inputNames.length !== 1) die(`the model has ${session.inputNames.length} inputs; ort_eval feeds one`, 2);
  const meta = (session.inputMetadata || [])[0];
  const d0 = meta && meta.isTensor && Array.isArray(meta.shape) ? meta.shape[0] : null;
  const fixedBatch = typeof d0 === 'number' && d0 > 0 ? d0 : 0;
  for (let batch = readBatch(); batch !== null; batch = readBatch()) {
    try {
      await runBatch(ort, session, fixedBatch, batch);
    } catch (e) {
      die(`ONNX Runtime ${version} failed to run '${args.model}' on a batch of shape [${batch.dims}]: ${e.message}`, 1);
    }
  }
}

main().catch((e) => die(e.message, 1));
