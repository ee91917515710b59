/**
 * The audit trail's cost: the latency `record()` adds to a request (p50/p95, one writer at a time and 50
 * concurrent requests sharing fsyncs or commits) and the records per second one process sustains, for the
 * embedded trail (fsync per batch) and PostgreSQL (a local cluster from the test harness: fsync off, as
 * the harness runs it). Writes bench/results/audit.md.
 *
 *   npm run bench:audit            (add -- --seconds N for longer throughput runs)
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { createFileAuditTrail } from "../src/adapters/audit/file-audit-trail.ts";
import { createPostgresAuditTrail, initAuditSchema } from "../src/adapters/postgres/postgres-audit-trail.ts";
import type { AuditTrail } from "../src/ports/audit-log.ts";
import { sampleRecord } from "../test/helpers/audit-tampering.ts";
import { startPostgres } from "../test/helpers/postgres-server.ts";

const secondsAt = process.argv.indexOf("--seconds");
const seconds = secondsAt > 0 ? Number(process.argv[secondsAt + 1]) : 5;
const { privateKey } = generateKeyPairSync("ed25519");

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function latency(trail: AuditTrail, concurrency: number, count: number): Promise<number[]> {
  const samples: number[] = [];
  let index = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (index < count) {
        const i = index++;
        const started = performance.now();
        await trail.record(sampleRecord(i, new Date()));
        samples.push(performance.now() - started);
      }
    }),
  );
  return samples;
}

async function throughput(trail: AuditTrail, concurrency: number): Promise<number> {
  let done = 0;
  const deadline = performance.now() + seconds * 1_000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await trail.record(sampleRecord(done, new Date()));
        done += 1;
      }
    }),
  );
  return done / seconds;
}

async function measure(name: string, open: () => Promise<AuditTrail>) {
  const trail = await open();
  await latency(trail, 1, 200); // warm up
  const serial = await latency(trail, 1, 2_000);
  const concurrent = await latency(trail, 50, 10_000);
  const rate = await throughput(trail, 200);
  await trail.close();
  const ms = (value: number) => value.toFixed(3);
  return `| ${name} | ${ms(percentile(serial, 50))} | ${ms(percentile(serial, 95))} | ${ms(percentile(concurrent, 50))} | ${ms(percentile(concurrent, 95))} | ${Math.round(rate).toLocaleString("en")} |`;
}

const dir = await mkdtemp(path.join(tmpdir(), "clearance-bench-audit-"));
const server = await startPostgres();
try {
  const keyFile = path.join(dir, "key.pem");
  await writeFile(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  const url = await server.createDatabase("audit_bench");
  await initAuditSchema({ connectionString: url });
  const rows = [
    await measure("embedded (fsync per batch)", () =>
      createFileAuditTrail({ dir: path.join(dir, "trail"), checkpointKey: privateKey }),
    ),
    await measure("PostgreSQL (local, harness settings)", () =>
      createPostgresAuditTrail({ connectionString: url, checkpointKey: privateKey }),
    ),
  ];
  const report = [
    "# Audit trail: cost per request and throughput",
    "",
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
    "`npm run bench:audit`: `record()` of a search-sized record (token, digest, one passage), Ed25519 checkpoints on.",
    "The added latency of a request is the time its `record()` takes: it runs once, after the use case, before the",
    "answer. 'serial' is one request at a time; '50 concurrent' is 50 requests in flight, which share one fsync",
    `(or one COMMIT) per batch. Throughput: 200 writers for ${seconds} s in one process.`,
    "The PostgreSQL cluster is the test harness's (fsync and synchronous_commit off, loopback): a production",
    "server that syncs its WAL adds its commit latency per batch, not per record.",
    "",
    "| store | serial p50 ms | serial p95 ms | 50 concurrent p50 ms | 50 concurrent p95 ms | records/s |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
  ].join("\n");
  await writeFile(new URL("results/audit.md", import.meta.url), report);
  console.log(report);
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
