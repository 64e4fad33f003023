// ONNX Runtime latency of several ONNX models in one process: the timing loop of
// scripts/bench_int8_time.js (and the benches that call it) and scripts/demo_table.js. Two orders:
//   blocks: each model runs a block of `runs` inferences (after `blockWarmups` more), the models one
//     after the other (the order rotated by `rotate`), with ORT's default session options (worker
//     threads spin between parallel sections), as a deployment runs it; the speed-up of a model is
//     the first model's median ms / its median ms.
//   interleaved: each round runs every model once (starting at a different model each round), so
//     load from other processes falls on all of them alike, with spinning off (an idle session's
//     spinning workers would steal the cores of the next session in the same process); the speed-up
//     is the median over rounds of the paired ratio (first model's ms / this model's ms in the same
//     round). For a shared machine: without spinning every parallel section pays a thread wake-up,
//     which costs the int8 path (many short sections: ORT's QLinearConv runs one parallel loop per
//     image) more than the fp32 NCHWc path.
'use strict';

const path = require('path');

const MODES = ['blocks', 'interleaved'];

function loadOrt() {
  return require(path.join(__dirname, '..', 'tests', 'ort', 'node_modules', 'onnxruntime-node'));
}

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// models: [{file, feeds(session) -> the feeds of one inference}]. Opens a session per model (level
// all, `threads` intra-op threads), runs `warmups` inferences on each, then times them in `mode`.
// Returns per model {median_ms, min_ms, ratio (speed-up over the first model), ms (every run)}.
async function timeModels(models, {threads, runs, mode = 'blocks', rotate = 0, warmups = 3, blockWarmups = 10}) {
  if (!MODES.includes(mode)) throw new Error(`mode must be one of ${MODES.join(', ')}, got '${mode}'`);
  const ort = loadOrt();
  const blocks = mode === 'blocks';
  const options = {graphOptimizationLevel: 'all', logSeverityLevel: 3, intraOpNumThreads: threads};
  if (!blocks) options.extra = {session: {intra_op: {allow_spinning: '0'}}};
  const sessions = [];
  for (const m of models) {
    const s = await ort.InferenceSession.create(m.file, options);
    const feeds = m.feeds(s, ort);
    for (let w = 0; w < warmups; ++w) await s.run(feeds);
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
      const e = sessions[(k + rotate) % n];
      for (let w = 0; w < blockWarmups; ++w) await e.s.run(e.feeds);
      for (let r = 0; r < runs; ++r) await time(e);
    }
  } else {
    for (let r = 0; r < runs; ++r)
      for (let k = 0; k < n; ++k) await time(sessions[(r + k) % n]);
  }
  const ref = sessions[0].ms;
  return sessions.map(({ms}) => ({
    median_ms: median(ms), min_ms: Math.min(...ms), ms,
    ratio: blocks ? median(ref) / median(ms) : median(ms.map((v, r) => ref[r] / v)),
  }));
}

module.exports = {MODES, loadOrt, median, timeModels};
