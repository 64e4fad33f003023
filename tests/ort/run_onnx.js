#!/usr/bin/env node
// Runs an ONNX model with ONNX Runtime (onnxruntime-node) on .npy inputs; see README.md.
//
//   node run_onnx.js MODEL.onnx [--input in.npy [--input2 in2.npy ...]] [--output out.npy]
//        [--level all|extended|basic|disabled] [--optimized-model opt.onnx]
//        [--histogram] [--time N] [--threads N] [--int8-kernels exact|default]
//
// stdout carries only JSON lines (one object per line); messages go to stderr.
// Exit codes: 0 ok, 2 bad usage or input, 1 ONNX Runtime failure.
'use strict';

const fs = require('fs');
const path = require('path');

const USAGE = `usage: node run_onnx.js MODEL.onnx [--input in.npy [--input2 in2.npy ...]] [--output out.npy]
       [--level all|extended|basic|disabled] [--optimized-model opt.onnx] [--histogram]
       [--time N] [--threads N]
  --input, --input2, ...  float32 .npy files fed to the graph inputs in graph-input order
  --output FILE           write the first graph output as a float32 .npy
  --level L               ORT graph optimization level (default: all)
  --optimized-model FILE  save the graph ORT optimized (session option optimizedModelFilePath)
  --histogram             print {"histogram": {op_type: count}} of MODEL (and of the optimized model)
  --time N                run N timed inferences after one warm-up; print {"median_ms": ...}
  --threads N             intra-op threads (default: ORT's choice)
  --int8-kernels K        exact (default): session.x64quantprecision=1, the QDQ graph's arithmetic on
                          every x86 CPU; default: ORT's default kernels (what a deployment runs)`;

class UsageError extends Error {}

function die(err) {
  const usage = err instanceof UsageError;
  process.stderr.write(`run_onnx.js: error: ${err.message}\n${usage && err.showUsage ? USAGE + '\n' : ''}`);
  process.exit(usage ? 2 : 1);
}

function usageError(msg, showUsage = false) {
  const e = new UsageError(msg);
  e.showUsage = showUsage;
  return e;
}

// ------------------------------------------------------------------------------------------
// Arguments

function parseArgs(argv) {
  const args = {model: null, inputs: [], output: null, level: 'all', optimized: null, histogram: false,
                time: 0, threads: 0, int8Kernels: 'exact'};
  const value = (i, flag) => {
    if (i + 1 >= argv.length) throw usageError(`${flag} needs a value`, true);
    return argv[i + 1];
  };
  const positiveInt = (s, flag) => {
    if (!/^\d+$/.test(s) || Number(s) < 1) throw usageError(`${flag} needs a positive integer, got '${s}'`);
    return Number(s);
  };
  const numbered = [];
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    let m;
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else if ((m = /^--input(\d*)$/.exec(a))) {
      const n = m[1] === '' ? 1 : Number(m[1]);
      if (n < 1) throw usageError(`unknown option '${a}' (inputs are --input, --input2, --input3, ...)`);
      if (numbered[n - 1] !== undefined) throw usageError(`${a} given twice`);
      numbered[n - 1] = value(i++, a);
    } else if (a === '--output') {
      args.output = value(i++, a);
    } else if (a === '--level') {
      args.level = value(i++, a);
      if (!['all', 'extended', 'basic', 'disabled', 'layout'].includes(args.level)) {
        throw usageError(`--level must be all, extended, basic or disabled, got '${args.level}'`);
      }
    } else if (a === '--optimized-model') {
      args.optimized = value(i++, a);
    } else if (a === '--histogram') {
      args.histogram = true;
    } else if (a === '--time') {
      args.time = positiveInt(value(i++, a), a);
    } else if (a === '--threads') {
      args.threads = positiveInt(value(i++, a), a);
    } else if (a === '--int8-kernels') {
      args.int8Kernels = value(i++, a);
      if (!['exact', 'default'].includes(args.int8Kernels)) {
        throw usageError(`--int8-kernels must be exact or default, got '${args.int8Kernels}'`);
      }
    } else if (a.startsWith('-')) {
      throw usageError(`unknown option '${a}'`, true);
    } else if (args.model === null) {
      args.model = a;
    } else {
      throw usageError(`unexpected argument '${a}' (only one model file)`, true);
    }
  }
  if (args.model === null) throw usageError('no model file given', true);
  for (let k = 0; k < numbered.length; ++k) {
    if (numbered[k] === undefined) throw usageError(`--input${k === 0 ? '' : k + 1} is missing (inputs are --input, --input2, ... without gaps)`);
  }
  args.inputs = numbered;
  if ((args.output || args.time) && args.inputs.length === 0) {
    throw usageError('--output and --time need --input FILE.npy', true);
  }
  return args;
}

// ------------------------------------------------------------------------------------------
// .npy files (little-endian; C order)

const NPY_TYPES = {
  '<f4': {type: 'float32', Array: Float32Array, size: 4},
  '<f8': {type: 'float64', Array: Float64Array, size: 8},
  '<i8': {type: 'int64', Array: BigInt64Array, size: 8},
  '<i4': {type: 'int32', Array: Int32Array, size: 4},
  '<i2': {type: 'int16', Array: Int16Array, size: 2},
  '|i1': {type: 'int8', Array: Int8Array, size: 1},
  '|u1': {type: 'uint8', Array: Uint8Array, size: 1},
  '|b1': {type: 'bool', Array: Uint8Array, size: 1},
};

function readNpy(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw usageError(`cannot read '${file}': ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  const bad = (why) => usageError(`cannot read NumPy file '${file}': ${why} (write it with numpy.save, float32)`);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw bad('not a .npy file');
  const major = buf[6];
  if (major < 1 || major > 3) throw bad(`unsupported format version ${major}.${buf[7]}`);
  const lenBytes = major === 1 ? 2 : 4;
  const hlen = lenBytes === 2 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = 8 + lenBytes + hlen;
  if (start > buf.length) throw bad('truncated header');
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', 8 + lenBytes, start);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(header);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shapeM = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeM) throw bad(`malformed header ${JSON.stringify(header.trim())}`);
  const shape = shapeM[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    if (!/^\d+L?$/.test(s)) throw bad(`bad shape (${shapeM[1]})`);
    return parseInt(s, 10);
  });
  let d = descr[1];
  if (d[0] === '=') d = '<' + d.slice(1);
  if (['i1', 'u1', 'b1'].includes(d.slice(1))) d = '|' + d.slice(1);
  const t = NPY_TYPES[d];
  if (!t) throw bad(`unsupported dtype '${descr[1]}'`);
  if (fortran[1] === 'True' && shape.filter((s) => s > 1).length > 1) {
    throw bad('fortran_order arrays are not supported; save np.ascontiguousarray(a)');
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  const nbytes = numel * t.size;
  if (buf.length - start !== nbytes) {
    throw bad(`shape (${shape.join(', ')}) of '${d}' needs ${nbytes} data bytes, the file has ${buf.length - start}`);
  }
  const copy = new ArrayBuffer(nbytes);  // aligned copy
  new Uint8Array(copy).set(buf.subarray(start, start + nbytes));
  let data = new t.Array(copy);
  if (d === '|b1') data = Array.from(data, (v) => v !== 0);
  return {type: t.type, data, dims: shape};
}

function npyBytes(data, dims) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims.join(', ')}${dims.length === 1 ? ',' : ''}), }`;
  let total = 10 + dict.length + 1;
  total = Math.ceil(total / 64) * 64;
  const hlen = total - 10;
  const head = Buffer.alloc(total, 0x20);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(hlen, 8);
  head.write(dict, 10, 'latin1');
  head[total - 1] = 0x0a;
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data, (v) => Number(v));
  return Buffer.concat([head, Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength)]);
}

function writeAtomically(file, bytes) {
  const tmp = `${file}.tmp.${process.pid}`;
  try {
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, file);
  } catch (e) {
    try { fs.unlinkSync(tmp); } catch (_) { /* nothing to remove */ }
    throw usageError(`cannot write '${file}': ${e.message}`);
  }
}

// Converts a .npy array to the element type the graph input wants (float32 unless stated).
function toFeed(ort, arr, want, file) {
  const target = want || 'float32';
  if (arr.type === target) return new ort.Tensor(target, arr.data, arr.dims);
  const nums = Array.from(arr.data, (v) => Number(v));
  const ctors = {float32: Float32Array, float64: Float64Array, int32: Int32Array, int16: Int16Array,
                 int8: Int8Array, uint8: Uint8Array};
  if (target === 'int64') return new ort.Tensor('int64', BigInt64Array.from(nums, (v) => BigInt(Math.trunc(v))), arr.dims);
  if (target === 'bool') return new ort.Tensor('bool', Uint8Array.from(nums, (v) => (v ? 1 : 0)), arr.dims);
  if (!ctors[target]) throw usageError(`graph input of type ${target} cannot be fed from '${file}'`);
  return new ort.Tensor(target, ctors[target].from(nums), arr.dims);
}

// ------------------------------------------------------------------------------------------
// Minimal ONNX protobuf reader: op-type histogram of a ModelProto (subgraphs included).

function* protoFields(buf, start, end) {
  let p = start;
  const varint = () => {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (p >= end) throw new Error('truncated varint');
      const b = buf[p++];
      result += (b & 0x7f) * mul;
      if (!(b & 0x80)) return result;
      mul *= 128;
      if (mul > 2 ** 63) throw new Error('varint too long');
    }
  };
  while (p < end) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      yield {field, wire, value: varint()};
    } else if (wire === 1) {
      p += 8;
      yield {field, wire};
    } else if (wire === 5) {
      p += 4;
      yield {field, wire};
    } else if (wire === 2) {
      const len = varint();
      if (p + len > end) throw new Error('truncated length-delimited field');
      yield {field, wire, start: p, end: p + len};
      p += len;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
    if (p > end) throw new Error('truncated field');
  }
}

function opHistogram(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw usageError(`cannot read '${file}': ${e.message}`);
  }
  const hist = {};
  let nodes = 0;
  const str = (f) => buf.toString('utf8', f.start, f.end);
  const graph = (s, e) => {  // GraphProto: 1 = node
    for (const f of protoFields(buf, s, e)) if (f.field === 1 && f.wire === 2) node(f.start, f.end);
  };
  const node = (s, e) => {  // NodeProto: 4 = op_type, 7 = domain, 5 = attribute
    let op = '';
    let domain = '';
    for (const f of protoFields(buf, s, e)) {
      if (f.wire !== 2) continue;
      if (f.field === 4) op = str(f);
      else if (f.field === 7) domain = str(f);
      else if (f.field === 5) {
        // AttributeProto: 6 = g (GraphProto), 11 = graphs
        for (const a of protoFields(buf, f.start, f.end)) {
          if (a.wire === 2 && (a.field === 6 || a.field === 11)) graph(a.start, a.end);
        }
      }
    }
    const name = domain && domain !== 'ai.onnx' ? `${domain}.${op}` : op;
    hist[name] = (hist[name] || 0) + 1;
    ++nodes;
  };
  try {
    let sawGraph = false;
    for (const f of protoFields(buf, 0, buf.length)) {  // ModelProto: 7 = graph
      if (f.field === 7 && f.wire === 2) {
        graph(f.start, f.end);
        sawGraph = true;
      }
    }
    if (!sawGraph) throw new Error('no graph in the model');
  } catch (e) {
    throw usageError(`cannot parse ONNX file '${file}': ${e.message}`);
  }
  const sorted = {};
  for (const k of Object.keys(hist).sort()) sorted[k] = hist[k];
  return {file, nodes, histogram: sorted};
}

// ------------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(args.model)) throw usageError(`model file '${args.model}' does not exist`);
  const ort = require('onnxruntime-node');

  // The oracle must compute what the QDQ graph says. On x86 CPUs without VNNI (AVX2 only, e.g. AMD EPYC
  // Zen 2/3), ORT's u8 x s8 integer kernels sum pairs of products in saturating 16-bit lanes (vpmaddubsw),
  // so QLinearConv/QGemm differ from the graph's arithmetic wherever two products exceed 32767 (measured
  // here: 84 of 1000 ternary-QAT classes differ at level all, none at level disabled). x64quantprecision=1
  // makes ORT use its exact kernels there; on VNNI/AVX-512 machines it changes nothing. Deployment
  // accuracy with ORT's default kernels is what `export: {ort_eval}` reports (share/ort_eval.js);
  // --int8-kernels default runs those.
  const options = {graphOptimizationLevel: args.level, logSeverityLevel: 3};
  if (args.int8Kernels === 'exact') options.extra = {session: {x64quantprecision: '1'}};
  if (args.optimized) {
    const dir = path.dirname(path.resolve(args.optimized));
    if (!fs.existsSync(dir)) throw usageError(`cannot write '${args.optimized}': directory '${dir}' does not exist`);
    options.optimizedModelFilePath = args.optimized;
  }
  if (args.threads) options.intraOpNumThreads = args.threads;

  if (args.inputs.length === 0 && !args.optimized && args.histogram) {  // histogram only: no session needed
    process.stdout.write(JSON.stringify(opHistogram(args.model)) + '\n');
    return;
  }
  let session;
  try {
    session = await ort.InferenceSession.create(args.model, options);
  } catch (e) {
    throw new Error(`ONNX Runtime cannot load '${args.model}': ${e.message}`);
  }

  if (args.histogram) {
    process.stdout.write(JSON.stringify(opHistogram(args.model)) + '\n');
    if (args.optimized) process.stdout.write(JSON.stringify({optimized: true, ...opHistogram(args.optimized)}) + '\n');
  }
  if (args.inputs.length === 0) {
    if (!args.histogram && !args.optimized) {  // nothing asked: describe the graph's inputs and outputs
      const desc = (m) => (m.isTensor ? {name: m.name, type: m.type, shape: m.shape} : {name: m.name});
      process.stdout.write(JSON.stringify({
        inputs: (session.inputMetadata || session.inputNames.map((name) => ({name}))).map(desc),
        outputs: (session.outputMetadata || session.outputNames.map((name) => ({name}))).map(desc),
      }) + '\n');
    }
    return;
  }

  const names = session.inputNames;
  if (args.inputs.length !== names.length) {
    throw usageError(`the model has ${names.length} graph input(s) (${names.join(', ')}) but ` +
                     `${args.inputs.length} --input file(s) were given`);
  }
  const meta = session.inputMetadata || [];
  const feeds = {};
  names.forEach((name, k) => {
    const m = meta[k];
    feeds[name] = toFeed(ort, readNpy(args.inputs[k]), m && m.isTensor ? m.type : 'float32', args.inputs[k]);
  });

  let result;
  try {
    result = await session.run(feeds);
  } catch (e) {
    throw new Error(`ONNX Runtime failed to run '${args.model}': ${e.message}`);
  }
  const out = result[session.outputNames[0]];
  if (args.output) writeAtomically(args.output, npyBytes(out.data, out.dims.map(Number)));

  if (args.time) {
    const ms = [];
    for (let i = 0; i < args.time; ++i) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const sorted = [...ms].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    const round = (v) => Math.round(v * 1000) / 1000;
    process.stdout.write(JSON.stringify({
      median_ms: round(median), mean_ms: round(ms.reduce((a, b) => a + b, 0) / ms.length),
      min_ms: round(sorted[0]), max_ms: round(sorted[sorted.length - 1]), runs: ms.length, level: args.level,
    }) + '\n');
  }
}

main().catch(die);
