/**
 * Authorizer benchmark on a deterministic bank-like graph (see `authz-graph.ts`).
 *
 *   npm run bench:authz -- [--authorizer embedded|permify] [--quick] [--seed N]
 *
 * Reports single checks per second, bulk checks (100 items a call) per second with the latency of one
 * call, and the time to list every document a user can view for three probe users (~1%, ~10%, 100% of
 * the documents). Prints a table and writes it as Markdown under bench/results/. Timing aims are
 * reported, never enforced: the exit code only says whether the benchmark ran.
 */
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createEmbeddedAuthorizer } from "../src/adapters/embedded-authz/embedded-authorizer.ts";
import type { CheckRequest } from "../src/core/authz-model.ts";
import { lookupAllResources } from "../src/core/lookup-all.ts";
import type { Authorizer } from "../src/ports/authorizer.ts";
import {
  type BankGraph,
  FULL_GRAPH,
  generateBankGraph,
  graphTuples,
  QUICK_GRAPH,
  seededRandom,
  viewableDocuments,
} from "./authz-graph.ts";

const AIM_BULK_MEDIAN_MS = 2;
const AIM_LIST_10_PERCENT_MEDIAN_MS = 20;
const WRITE_BATCH = 1_000; // Permify's max_data_per_write on PostgreSQL; kept for every adapter alike.
const BULK_SIZE = 100; // Permify's hard cap for bulkCheck.

const USAGE = "usage: npm run bench:authz -- [--authorizer embedded|permify] [--quick] [--seed N]";

interface Options {
  readonly authorizer: "embedded" | "permify";
  readonly quick: boolean;
  readonly seed: number;
}

function parseOptions(argv: readonly string[]): Options {
  let values: { authorizer?: string; quick?: boolean; seed?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        authorizer: { type: "string", default: "embedded" },
        quick: { type: "boolean", default: false },
        seed: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.authorizer !== "embedded" && values.authorizer !== "permify") {
    console.error(`unknown authorizer "${values.authorizer}"\n${USAGE}`);
    process.exit(2);
  }
  const seed =
    values.seed === undefined ? (values.quick ? QUICK_GRAPH : FULL_GRAPH).seed : Number(values.seed);
  if (!Number.isInteger(seed)) {
    console.error(`--seed must be an integer\n${USAGE}`);
    process.exit(2);
  }
  return { authorizer: values.authorizer, quick: values.quick ?? false, seed };
}

async function createAuthorizer(kind: Options["authorizer"]): Promise<Authorizer> {
  if (kind === "permify") {
    console.error(
      "the Permify authorizer is not available to the benchmark yet (no adapter); use --authorizer embedded",
    );
    process.exit(2);
  }
  return createEmbeddedAuthorizer();
}

// ---------------------------------------------------------------------------------------------------------
// Measurement

function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sortedMs.length) - 1;
  return sortedMs[Math.min(sortedMs.length - 1, Math.max(0, rank))] as number;
}

interface Timings {
  readonly runs: number;
  readonly totalMs: number;
  readonly medianMs: number;
  readonly p95Ms: number;
}

/** Runs `body` until `budgetMs` is spent (at least `minRuns`, at most `maxRuns` times), after warm-up. */
async function measure(
  body: (run: number) => Promise<void>,
  limits: { warmup: number; minRuns: number; maxRuns: number; budgetMs: number },
): Promise<Timings> {
  for (let i = 0; i < limits.warmup; i++) await body(i);
  const samples: number[] = [];
  const started = performance.now();
  for (let run = 0; run < limits.maxRuns; run++) {
    const t0 = performance.now();
    await body(limits.warmup + run);
    samples.push(performance.now() - t0);
    if (samples.length >= limits.minRuns && performance.now() - started > limits.budgetMs) break;
  }
  const totalMs = performance.now() - started;
  const sorted = [...samples].sort((a, b) => a - b);
  return { runs: samples.length, totalMs, medianMs: percentile(sorted, 50), p95Ms: percentile(sorted, 95) };
}

/** Random document checks, mostly for random users (mostly denied) and a quarter for the probes. */
function randomChecks(graph: BankGraph, count: number, seed: number): CheckRequest[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  return Array.from({ length: count }, () => ({
    entity: { type: "document", id: pick(graph.documents).id },
    permission: "view",
    subject: { type: "user", id: random() < 0.25 ? pick(graph.probes).user : pick(graph.users) },
  }));
}

// ---------------------------------------------------------------------------------------------------------
// Report

interface Row {
  readonly measurement: string;
  readonly result: string;
  readonly aim: string;
}

const fmt = (ms: number): string =>
  ms < 1 ? ms.toFixed(3) : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
const count = (n: number): string => Math.round(n).toLocaleString("en-US");

function textTable(rows: readonly Row[]): string {
  const header: Row = { measurement: "measurement", result: "result", aim: "aim" };
  const all = [header, ...rows];
  const width = (key: keyof Row): number => Math.max(...all.map((r) => r[key].length));
  const line = (r: Row): string =>
    `${r.measurement.padEnd(width("measurement"))}  ${r.result.padEnd(width("result"))}  ${r.aim}`.trimEnd();
  const rule = "-".repeat(width("measurement") + width("result") + width("aim") + 4);
  return [line(header), rule, ...rows.map(line)].join("\n");
}

function markdownTable(rows: readonly Row[]): string {
  const cell = (s: string): string => s.replaceAll("|", "\\|");
  return [
    "| measurement | result | aim |",
    "|---|---|---|",
    ...rows.map((r) => `| ${cell(r.measurement)} | ${cell(r.result)} | ${cell(r.aim) || "—"} |`),
  ].join("\n");
}

function machine(): string {
  const cpus = os.cpus();
  return `${os.type()} ${os.release()} (${os.arch()}), ${cpus[0]?.model.trim() ?? "unknown cpu"}, ${cpus.length} cores, Node ${process.version}`;
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const shape = options.quick ? QUICK_GRAPH : FULL_GRAPH;
  const authorizer = await createAuthorizer(options.authorizer);

  const generated = performance.now();
  const graph = generateBankGraph({ ...shape, seed: options.seed });
  const tuples = graphTuples(graph);
  console.log(
    `graph (seed ${options.seed}): ${count(graph.documents.length)} documents, ${count(graph.collections.length)} collections, ` +
      `${count(graph.teams.length)} teams, ${count(graph.users.length)} users, ${count(tuples.length)} tuples ` +
      `(generated in ${fmt(performance.now() - generated)} ms)`,
  );

  const rows: Row[] = [];
  try {
    await authorizer.writeSchema(graph.schema);
    const load = performance.now();
    for (let i = 0; i < tuples.length; i += WRITE_BATCH) {
      await authorizer.writeData({ tuples: tuples.slice(i, i + WRITE_BATCH) });
    }
    const loadMs = performance.now() - load;
    rows.push({
      measurement: `load ${count(tuples.length)} tuples (batches of ${WRITE_BATCH})`,
      result: `${fmt(loadMs)} ms`,
      aim: "",
    });

    // Single checks, one after another.
    const singles = randomChecks(graph, 200_000, options.seed + 1);
    let allowedSingles = 0;
    const single = await measure(
      async (i) => {
        if (await authorizer.check(singles[i % singles.length] as CheckRequest)) allowedSingles++;
      },
      { warmup: 500, minRuns: 1_000, maxRuns: singles.length - 500, budgetMs: 3_000 },
    );
    rows.push({
      measurement: "single check (sequential)",
      result:
        `${count((single.runs / single.totalMs) * 1000)} checks/s; median ${fmt(single.medianMs)} ms, ` +
        `p95 ${fmt(single.p95Ms)} ms (${count(single.runs)} checks, ${Math.round((100 * allowedSingles) / (single.runs + 500))}% allowed)`,
      aim: "",
    });

    // Bulk checks of 100 items.
    const bulkItems = randomChecks(graph, BULK_SIZE * 2_000, options.seed + 2);
    let failedBulk = 0;
    const bulk = await measure(
      async (i) => {
        const start = (i * BULK_SIZE) % bulkItems.length;
        const outcomes = await authorizer.checkMany(bulkItems.slice(start, start + BULK_SIZE));
        failedBulk += outcomes.filter((o) => o === "failed").length;
      },
      { warmup: 20, minRuns: 50, maxRuns: 1_980, budgetMs: 3_000 },
    );
    const bulkMet = bulk.medianMs < AIM_BULK_MEDIAN_MS;
    rows.push({
      measurement: `bulk check (checkMany of ${BULK_SIZE})`,
      result:
        `${count(((bulk.runs * BULK_SIZE) / bulk.totalMs) * 1000)} checks/s; one call median ${fmt(bulk.medianMs)} ms, ` +
        `p95 ${fmt(bulk.p95Ms)} ms (${count(bulk.runs)} calls${failedBulk > 0 ? `, ${failedBulk} items failed` : ""})`,
      aim: `median < ${AIM_BULK_MEDIAN_MS} ms: ${bulkMet ? "met" : "NOT met"}`,
    });

    // Listing every viewable document, for each probe user.
    for (const probe of graph.probes) {
      const expected = viewableDocuments(graph, probe.user);
      let listed: string[] = [];
      const list = await measure(
        async () => {
          listed = await lookupAllResources(authorizer, {
            entityType: "document",
            permission: "view",
            subject: { type: "user", id: probe.user },
          });
        },
        { warmup: 2, minRuns: 5, maxRuns: 200, budgetMs: 4_000 },
      );
      const share = (100 * listed.length) / graph.documents.length;
      const agrees = listed.length === expected.length && listed.every((id, i) => id === expected[i]);
      const aim =
        probe.label === "10%"
          ? `median < ${AIM_LIST_10_PERCENT_MEDIAN_MS} ms: ${list.medianMs < AIM_LIST_10_PERCENT_MEDIAN_MS ? "met" : "NOT met"}`
          : "";
      rows.push({
        measurement: `list viewable documents, ${probe.label} user (${probe.user})`,
        result:
          `median ${fmt(list.medianMs)} ms, p95 ${fmt(list.p95Ms)} ms; ${count(listed.length)} documents = ${share.toFixed(1)}%` +
          ` (${list.runs} runs${agrees ? "" : `; MISMATCH: reference says ${count(expected.length)}`})`,
        aim,
      });
    }
  } finally {
    await authorizer.close();
  }

  const date = new Date().toISOString();
  const title = `Authorizer benchmark: ${options.authorizer}${options.quick ? " (quick graph)" : ""}`;
  console.log(`\n${title}\n${machine()}\n${date}\n\n${textTable(rows)}\n`);

  const markdown = [
    `# ${title}`,
    "",
    `- date: ${date}`,
    `- machine: ${machine()}`,
    `- graph: ${count(graph.documents.length)} documents in ${count(graph.collections.length)} collections, ` +
      `${count(graph.teams.length)} teams, ${count(graph.users.length)} users, seed ${options.seed}`,
    "- command: `npm run bench:authz" +
      (options.quick || options.authorizer !== "embedded"
        ? ` --${options.authorizer !== "embedded" ? ` --authorizer ${options.authorizer}` : ""}${options.quick ? " --quick" : ""}`
        : "") +
      "`",
    "",
    markdownTable(rows),
    "",
    "Single checks run one after another; bulk calls draw from the same kind of random mix (a quarter for the probe",
    "users). Lists page with the authorizer's default page size through `lookupAllResources` and are compared with",
    "the generator's reference. Aims are from the issue and are reported, not enforced.",
    "",
  ].join("\n");
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "results");
  const file = join(resultsDir, options.quick ? "authz-quick.md" : "authz.md");
  await mkdir(resultsDir, { recursive: true });
  await writeFile(file, markdown);
  console.log(`wrote ${file}`);
}

await main();
