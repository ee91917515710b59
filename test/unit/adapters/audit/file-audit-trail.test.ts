import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileAuditTrail, segmentName } from "../../../../src/adapters/audit/file-audit-trail.ts";
import { canonicalJson, verifyTrail } from "../../../../src/core/audit-chain.ts";
import { main } from "../../../../src/main.ts";
import type { ChainedAuditRecord } from "../../../../src/ports/audit-log.ts";
import { sampleRecord, TAMPERINGS } from "../../../helpers/audit-tampering.ts";

const { privateKey } = generateKeyPairSync("ed25519");
const TWO_DAYS_AGO = new Date(Date.now() - 2 * 86_400_000);

let dataDir: string;
let trailDir: string;
let keyFile: string;
let env: Record<string, string>;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "clearance-audit-"));
  trailDir = path.join(dataDir, "audit", "trail");
  keyFile = path.join(dataDir, "checkpoint.pem");
  await writeFile(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  env = { CLEARANCE_DATA_DIR: dataDir, AUDIT_CHECKPOINT_KEY_FILE: keyFile, LOG_LEVEL: "silent" };
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function writeRecords(count: number, options: { time?: Date; rotateBytes?: number } = {}) {
  const trail = await createFileAuditTrail({
    dir: trailDir,
    checkpointKey: privateKey,
    // Records dated in the past must not seal the segment by age here.
    rotateAgeMs: 7 * 86_400_000,
    ...(options.rotateBytes === undefined ? {} : { rotateBytes: options.rotateBytes }),
  });
  const written = [];
  if (options.rotateBytes === undefined) {
    written.push(
      ...(await Promise.all(
        Array.from({ length: count }, (_, i) => trail.record(sampleRecord(i, options.time ?? new Date()))),
      )),
    );
  } else {
    // One batch at a time, so that segments fill up and rotate between them.
    for (let i = 0; i < count; i++)
      written.push(await trail.record(sampleRecord(i, options.time ?? new Date())));
  }
  await trail.close();
  return written;
}

async function verifyCli(): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const code = await main(["audit", "verify"], {
    io: { stdout: (line) => out.push(line), stderr: (line) => out.push(line) },
    env,
  });
  return { code, out: out.join("\n") };
}

/** The stored lines of the single segment: records, then checkpoints. */
async function readSegment(): Promise<{ records: ChainedAuditRecord[]; checkpoints: string[] }> {
  const names = (await readdir(trailDir)).filter((name) => name.startsWith("segment-"));
  expect(names).toEqual([segmentName(1)]);
  const lines = (await readFile(path.join(trailDir, segmentName(1)), "utf8")).split("\n").filter(Boolean);
  return {
    records: lines.filter((line) => !line.startsWith('{"checkpoint"')).map((line) => JSON.parse(line)),
    checkpoints: lines.filter((line) => line.startsWith('{"checkpoint"')),
  };
}

describe("the embedded audit trail", () => {
  it("chains every record, fsyncs it before resolving, and an untouched trail verifies (exit 0)", async () => {
    const written = await writeRecords(20);
    expect(written.map((record) => record.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const { records, checkpoints } = await readSegment();
    expect(records).toHaveLength(20);
    expect(checkpoints.length).toBeGreaterThan(0);
    // Stored exactly as hashed: the canonical form.
    for (const record of records) expect(canonicalJson(record)).toBe(JSON.stringify(record));
    const { code, out } = await verifyCli();
    expect(out).toContain("verified: 20 records (seq 1 to 20)");
    expect(code).toBe(0);
  });

  for (const tampering of TAMPERINGS) {
    it(`audit verify catches ${tampering.name}, names the record and exits 1`, async () => {
      await writeRecords(12, tampering.dropCheckpoints ? { time: TWO_DAYS_AGO } : {});
      const { records, checkpoints } = await readSegment();
      const altered = tampering.alter(records);
      const lines = [
        ...altered.map((record) => JSON.stringify(record)),
        ...(tampering.dropCheckpoints ? [] : checkpoints),
      ];
      await writeFile(path.join(trailDir, segmentName(1)), `${lines.join("\n")}\n`);
      const { code, out } = await verifyCli();
      expect(out).toMatch(tampering.says);
      expect(out).toMatch(new RegExp(`seq ${tampering.names(records)}\\b`));
      expect(code).toBe(1);
    });
  }

  it("catches a forged checkpoint and a checkpoint signed with another key", async () => {
    await writeRecords(5);
    const { records, checkpoints } = await readSegment();
    const other = generateKeyPairSync("ed25519").privateKey;
    const forged = JSON.parse(checkpoints.at(-1) as string) as { checkpoint: Record<string, unknown> };
    forged.checkpoint.hash = "f".repeat(64);
    await writeFile(
      path.join(trailDir, segmentName(1)),
      `${[...records.map((r) => JSON.stringify(r)), JSON.stringify(forged)].join("\n")}\n`,
    );
    const { code, out } = await verifyCli();
    expect(out).toMatch(/bad signature/);
    expect(code).toBe(1);
    // Verified with another key, the genuine checkpoints do not verify either.
    const otherFile = path.join(dataDir, "other.pem");
    await writeFile(otherFile, other.export({ type: "pkcs8", format: "pem" }).toString());
    env = { ...env, AUDIT_CHECKPOINT_KEY_FILE: otherFile };
    expect((await verifyCli()).code).toBe(1);
  });

  it("rotates into sealed segments that verify as one chain, and catches a cut inside a sealed segment", async () => {
    await writeRecords(60, { rotateBytes: 4_096 });
    const segments = (await readdir(trailDir)).filter((name) => name.startsWith("segment-")).sort();
    expect(segments.length).toBeGreaterThan(2);
    expect((await verifyCli()).code).toBe(0);
    // Cut the last record (and its seal) off the first segment.
    const first = path.join(trailDir, segments[0] as string);
    const lines = (await readFile(first, "utf8")).split("\n").filter(Boolean);
    const lastRecord = lines.findLastIndex((line) => !line.startsWith('{"checkpoint"'));
    await writeFile(first, `${lines.slice(0, lastRecord).join("\n")}\n`);
    const { code, out } = await verifyCli();
    expect(out).toMatch(/missing|cut/);
    expect(code).toBe(1);
  });

  it("removes sealed segments past retention and still verifies from the anchor it keeps", async () => {
    let now = TWO_DAYS_AGO;
    const trail = await createFileAuditTrail({
      dir: trailDir,
      checkpointKey: privateKey,
      rotateBytes: 4_096,
      retentionMs: 86_400_000,
      now: () => now,
    });
    for (let i = 0; i < 30; i++) await trail.record(sampleRecord(i, now));
    now = new Date();
    for (let i = 30; i < 60; i++) await trail.record(sampleRecord(i, now));
    await trail.close();
    const report = await verifyTrail(await createFileAuditTrail({ dir: trailDir, readOnly: true }), {
      key: privateKey,
    });
    expect(report.ok).toBe(true);
    expect(report.firstSeq).toBeGreaterThan(1);
    expect(report.notes.join(" ")).toMatch(/removed by retention/);
  });

  it("two writers on one data directory (a server and a CLI beside it) keep one valid chain", async () => {
    const a = await createFileAuditTrail({ dir: trailDir, checkpointKey: privateKey });
    const b = await createFileAuditTrail({ dir: trailDir, checkpointKey: privateKey });
    const written = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).record(sampleRecord(i, new Date()))),
    );
    await Promise.all([a.close(), b.close()]);
    expect(new Set(written.map((record) => record.seq)).size).toBe(200);
    const { code, out } = await verifyCli();
    expect(out).toContain("verified: 200 records");
    expect(code).toBe(0);
  });

  it("drops a torn last line (a write a crash cut short, never acknowledged) and goes on", async () => {
    await writeRecords(5);
    await writeFile(path.join(trailDir, segmentName(1)), '{"seq":6,"prev', { flag: "a" });
    await writeRecords(1);
    const { code, out } = await verifyCli();
    expect(out).toContain("verified: 6 records");
    expect(code).toBe(0);
  });
});
