// The Node peer queues, driven the way benchmarks/adapters/base.py drives a Python one.
//
//   node peer.mjs SYSTEM setup   URL
//   node peer.mjs SYSTEM produce URL N one|bulk|latency INTERVAL_S   -> {"seconds": s}
//   node peer.mjs SYSTEM work    URL CONCURRENCY                     (until killed)
//
// SYSTEM: bullmq | graphile | graphile-batch | pgboss | pgboss-tuned. Every job's payload is
// {"i": n, "t": enqueue_time} and every handler appends "enqueued started finished" to
// BENCH_RECORD with one O_APPEND write, exactly as benchmarks/recorder.py does, so the
// harness times Node and Python systems with the same code. Exit 3: no bulk API.

import fs from "node:fs";
import { createRequire } from "node:module";

// Packages live in the install directory the harness chose (BENCH_NODE_MODULES).
const require = createRequire(process.env.BENCH_NODE_MODULES + "/");
const [system, op, url, ...rest] = process.argv.slice(2);
const SLEEP_MS = Number(process.env.BENCH_SLEEP || 0) * 1000;
const RECORD = process.env.BENCH_RECORD || "";
const QUEUE = "bench";
const CHUNK = 1000;

let fd = null;
function record(enqueued, started) {
  if (!RECORD) return;
  if (fd === null) fd = fs.openSync(RECORD, "a");
  const line = `${enqueued.toFixed(6)} ${started.toFixed(6)} ${(Date.now() / 1000).toFixed(6)}\n`;
  fs.writeSync(fd, line);
}

async function runJob(t) {
  const started = Date.now() / 1000;
  if (SLEEP_MS) await new Promise((resolve) => setTimeout(resolve, SLEEP_MS));
  record(t, started);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// graphile-worker's documented batching: a local queue of 500 jobs fetched (and locked)
// in one query, completions and failures flushed in batches as soon as possible.
const GRAPHILE_BATCHING = {
  worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
};

const systems = {
  bullmq: {
    async open() {
      const { Queue } = require("bullmq");
      const IORedis = require("ioredis");
      this.conn = new IORedis(url, { maxRetriesPerRequest: null });
      this.queue = new Queue(QUEUE, { connection: this.conn });
    },
    async close() {
      await this.queue.close();
      this.conn.disconnect();
    },
    enqueue(job) {
      return this.queue.add("bench", job);
    },
    async enqueueMany(jobs) {
      for (let i = 0; i < jobs.length; i += CHUNK) {
        await this.queue.addBulk(jobs.slice(i, i + CHUNK).map((data) => ({ name: "bench", data })));
      }
    },
    async work(concurrency) {
      const { Worker } = require("bullmq");
      const IORedis = require("ioredis");
      const conn = new IORedis(url, { maxRetriesPerRequest: null });
      // Defaults otherwise (completed jobs are kept, as wg keeps them for an hour).
      new Worker(QUEUE, (job) => runJob(job.data.t), { connection: conn, concurrency });
    },
  },
  graphile: {
    preset: undefined,
    async setup() {
      const { runMigrations } = require("graphile-worker");
      await runMigrations({ connectionString: url });
    },
    async open() {
      const { makeWorkerUtils } = require("graphile-worker");
      this.utils = await makeWorkerUtils({ connectionString: url });
    },
    async close() {
      await this.utils.release();
    },
    enqueue(job) {
      return this.utils.addJob(QUEUE, job);
    },
    async enqueueMany(jobs) {
      for (let i = 0; i < jobs.length; i += CHUNK) {
        await this.utils.addJobs(jobs.slice(i, i + CHUNK).map((payload) => ({ identifier: QUEUE, payload })));
      }
    },
    async work(concurrency) {
      const { run } = require("graphile-worker");
      const options = {
        connectionString: url,
        concurrency,
        noHandleSignals: true,
        taskList: { [QUEUE]: (payload) => runJob(payload.t) },
        logger: quietGraphileLogger(),
      };
      if (this.preset) options.preset = this.preset;
      const runner = await run(options);
      await runner.promise;
    },
  },
  pgboss: {
    async boss() {
      const PgBoss = require("pg-boss");
      const boss = new PgBoss(url);
      boss.on("error", (err) => console.error(err));
      await boss.start();
      await boss.createQueue(QUEUE);
      return boss;
    },
    async setup() {
      const boss = await this.boss();
      await boss.stop({ graceful: false, wait: false });
    },
    async open() {
      this.b = await this.boss();
    },
    async close() {
      await this.b.stop({ graceful: false, wait: false });
    },
    enqueue(job) {
      return this.b.send(QUEUE, job);
    },
    async enqueueMany(jobs) {
      for (let i = 0; i < jobs.length; i += CHUNK) {
        await this.b.insert(jobs.slice(i, i + CHUNK).map((data) => ({ name: QUEUE, data })));
      }
    },
    options: {},
    async work(concurrency) {
      // pg-boss 10 has no concurrency option: a worker is scaled by registering `work`
      // several times. Each registration fetches `batchSize` jobs (default 1) and then
      // waits `pollingIntervalSeconds` (default 2) before fetching again, busy or not.
      const boss = await this.boss();
      for (let k = 0; k < concurrency; k++) {
        await boss.work(QUEUE, this.options, async (jobs) => {
          for (const job of jobs) await runJob(job.data.t);
        });
      }
    },
  },
};
// Tuned: the shortest polling interval pg-boss allows and 50 jobs per fetch (run one
// after another, so the concurrency stays 10).
systems["pgboss-tuned"] = {
  ...systems.pgboss,
  options: { batchSize: 50, pollingIntervalSeconds: 0.5 },
};
systems["graphile-batch"] = { ...systems.graphile, preset: GRAPHILE_BATCHING };

function quietGraphileLogger() {
  const { Logger } = require("graphile-worker");
  return new Logger(() => (level, message) => {
    if (level === "error") console.error(message);
  });
}

async function main() {
  const sys = systems[system];
  if (!sys) throw new Error(`unknown system ${system}`);
  if (op === "setup") {
    if (sys.setup) await sys.setup();
    return 0;
  }
  if (op === "produce") {
    const [nText, mode, intervalText] = rest;
    const n = Number(nText);
    const interval = Number(intervalText) * 1000;
    await sys.open();
    let seconds;
    if (mode === "bulk") {
      const now = Date.now() / 1000;
      const jobs = Array.from({ length: n }, (_, i) => ({ i, t: now }));
      const started = performance.now();
      await sys.enqueueMany(jobs);
      seconds = (performance.now() - started) / 1000;
    } else {
      const started = performance.now();
      for (let i = 0; i < n; i++) {
        await sys.enqueue({ i, t: Date.now() / 1000 });
        if (mode === "latency") await sleep(interval);
      }
      seconds = (performance.now() - started) / 1000;
    }
    await sys.close();
    console.log(JSON.stringify({ seconds }));
    return 0;
  }
  if (op === "work") {
    await sys.work(Number(rest[0]));
    return null; // runs until killed
  }
  throw new Error(`unknown op ${op}`);
}

main().then(
  (code) => {
    if (code !== null) process.exit(code);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
