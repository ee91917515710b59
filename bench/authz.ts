/**
 * Authorizer benchmark on a deterministic bank-like graph (see `authz-graph.ts`).
 *
 *   npm run bench:authz -- [--authorizer permify|embedded] [--permify-engine postgres|memory] [--quick]
 *                          [--seed N] [--permify-endpoint host:port] [--permify-token KEY]
 *
 * Reports single checks per second, bulk checks (100 items a call) per second with the latency of one
 * call, and the time to list every document a user can view for three probe users (~1%, ~10%, 100% of
 * the documents). Prints a table and writes it as Markdown under bench/results/.
 *
 * By default (`--authorizer permify`) it measures Permify and the embedded evaluator side by side on the
 * same graph in the same run, alternating blocks of work between them so that the noise of a shared
 * machine hits both alike, and reports Permify's figures as a ratio of the embedded ones. It starts a
 * Permify of its own on free ports (the binary from PERMIFY_BIN, .tools/bin/permify or PATH) on its
 * production engine, PostgreSQL (a cluster of its own, from Debian's binaries; `--permify-engine memory`
 * for the memory engine), unless `--permify-endpoint` names a running one, and writes into a fresh
 * tenant. It also says where Permify's time goes: its gRPC calls per measurement and the SQL statements
 * underneath (pg_stat_statements). Writes bench/results/authz-permify-postgres.md (memory engine:
 * authz-permify.md). `--authorizer embedded` measures the embedded evaluator alone (authz.md).
 *
 * Timing aims are reported, never enforced: with the embedded evaluator alone the exit code only says
 * whether the benchmark ran. With Permify it is also 1 when a list or a decision disagreed with the
 * generator's reference (a correctness bug, not a timing) or a measurement stopped on failures; 2 is bad
 * usage or a missing binary.
 */
import { parseArgs } from "node:util";
import { createEmbeddedAuthorizer } from "../src/adapters/embedded-authz/embedded-authorizer.ts";
import type { CheckRequest, Tuple } from "../src/core/authz-model.ts";
import { lookupAllResources } from "../src/core/lookup-all.ts";
import { type Authorizer, type CheckOutcome, isCheckFailure } from "../src/ports/authorizer.ts";
import {
  type BankGraph,
  FULL_GRAPH,
  generateBankGraph,
  graphTuples,
  type ProbeUser,
  QUICK_GRAPH,
  seededRandom,
} from "./authz-graph.ts";
import { type BankReference, bankReference } from "./bank-reference.ts";
import {
  connectPermify,
  machine,
  type PermifyConnection,
  type PermifyEngine,
  percentile,
  type StatementRow,
  writeResults,
} from "./bench-support.ts";
import { count, fmt, markdownTable, textTable } from "./tables.ts";

const AIM_BULK_MEDIAN_MS = 2;
const AIM_LIST_10_PERCENT_MEDIAN_MS = 20;
const WRITE_BATCH = 1_000; // Permify's max_data_per_write on PostgreSQL; kept for every adapter alike.
const BULK_SIZE = 100; // Permify's hard cap for bulkCheck.

const USAGE =
  "usage: npm run bench:authz -- [--authorizer permify|embedded] [--permify-engine postgres|memory] " +
  "[--quick] [--seed N] [--permify-endpoint host:port] [--permify-token KEY]";

interface Options {
  readonly authorizer: "embedded" | "permify";
  readonly permifyEngine: PermifyEngine;
  readonly quick: boolean;
  readonly seed: number;
  /** `host:port` of a running Permify's gRPC listener; absent: the benchmark starts its own. */
  readonly permifyEndpoint?: string;
  readonly permifyToken?: string;
}

function usageError(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function parseOptions(argv: readonly string[]): Options {
  let values: {
    authorizer?: string;
    "permify-engine"?: string;
    quick?: boolean;
    seed?: string;
    help?: boolean;
    "permify-endpoint"?: string;
    "permify-token"?: string;
  };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        authorizer: { type: "string", default: "permify" },
        "permify-engine": { type: "string", default: "postgres" },
        quick: { type: "boolean", default: false },
        seed: { type: "string" },
        "permify-endpoint": { type: "string" },
        "permify-token": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    usageError((error as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.authorizer !== "embedded" && values.authorizer !== "permify") {
    usageError(`unknown authorizer "${values.authorizer}"`);
  }
  const engine = values["permify-engine"];
  if (engine !== "postgres" && engine !== "memory") usageError(`unknown Permify engine "${engine}"`);
  const seed =
    values.seed === undefined ? (values.quick ? QUICK_GRAPH : FULL_GRAPH).seed : Number(values.seed);
  if (!Number.isInteger(seed)) usageError("--seed must be an integer");
  const endpoint = values["permify-endpoint"];
  const token = values["permify-token"];
  if (values.authorizer !== "permify" && (endpoint !== undefined || token !== undefined)) {
    usageError("--permify-endpoint and --permify-token go with --authorizer permify");
  }
  if (endpoint !== undefined && !/^[^\s:]+:\d{1,5}$/.test(endpoint)) {
    usageError(`--permify-endpoint must be host:port, got "${endpoint}"`);
  }
  if (token !== undefined && endpoint === undefined) {
    usageError("--permify-token needs --permify-endpoint (a Permify started here has no authentication)");
  }
  return {
    authorizer: values.authorizer,
    permifyEngine: engine,
    quick: values.quick ?? false,
    seed,
    ...(endpoint === undefined ? {} : { permifyEndpoint: endpoint }),
    ...(token === undefined ? {} : { permifyToken: token }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Measurement

interface Timings {
  readonly runs: number;
  readonly totalMs: number;
  readonly medianMs: number;
  readonly p95Ms: number;
}

interface Limits {
  readonly warmup: number;
  readonly minRuns: number;
  readonly maxRuns: number;
  readonly budgetMs: number;
}

function timings(samples: readonly number[], totalMs: number): Timings {
  const sorted = [...samples].sort((a, b) => a - b);
  return { runs: samples.length, totalMs, medianMs: percentile(sorted, 50), p95Ms: percentile(sorted, 95) };
}

/** Runs `body` until `budgetMs` is spent (at least `minRuns`, at most `maxRuns` times), after warm-up. */
async function measure(body: (run: number) => Promise<void>, limits: Limits): Promise<Timings> {
  for (let i = 0; i < limits.warmup; i++) await body(i);
  const samples: number[] = [];
  const started = performance.now();
  for (let run = 0; run < limits.maxRuns; run++) {
    const t0 = performance.now();
    await body(limits.warmup + run);
    samples.push(performance.now() - t0);
    if (samples.length >= limits.minRuns && performance.now() - started > limits.budgetMs) break;
  }
  return timings(samples, performance.now() - started);
}

/** One kind of work measured by `interleaved`, e.g. Permify's single checks. */
interface Lane {
  /** Named lanes report every run that takes longer than 10 s, so that a long phase shows progress. */
  readonly name?: string;
  readonly limits: Limits;
  /** Untimed work before each run, warm-up included (e.g. a write that empties a cache). */
  readonly prepare?: (run: number) => Promise<void>;
  /** The timed work; `run` counts from 0 over warm-up and measured runs. */
  readonly body: (run: number) => Promise<void>;
  /** Untimed work after each run (e.g. checking what the run answered). */
  readonly after?: (run: number) => void;
}

interface LaneResult {
  /** Timings of the measured runs; `totalMs` is the sum of their durations (the time spent in `body`). */
  readonly timings: Timings;
  /** Set when FAILURES_IN_A_ROW runs in a row threw: the lane stopped there. */
  readonly failure?: string;
  /** Runs that threw (left out of the timings), and the first one's error. */
  readonly failed: number;
  readonly firstFailure?: string;
}

/**
 * A run that throws is counted and left out of the timings, and the lane goes on (Permify on PostgreSQL
 * fails some lookups now and then: a caller would get a 503, the figures say how often); this many in a row
 * stop the lane, as a server that is gone.
 */
const FAILURES_IN_A_ROW = 5;

/**
 * Measures several lanes in alternating blocks: each round gives every unfinished lane one block of
 * about `blockMs` (at least one run), in an order that flips every round, until every lane has spent its
 * budget and made its minimum of runs. Noise from the rest of the machine then falls on all lanes alike,
 * which makes their ratios worth more than any absolute figure. A run that throws is counted as failed;
 * FAILURES_IN_A_ROW of them stop the lane, with its error.
 */
async function interleaved(lanes: readonly Lane[], blockMs: number): Promise<LaneResult[]> {
  const state = lanes.map(() => ({
    samples: [] as number[],
    spentMs: 0,
    next: 0,
    failure: undefined as string | undefined,
    failed: 0,
    inARow: 0,
    firstFailure: undefined as string | undefined,
  }));
  const finished = (i: number): boolean => {
    const lane = lanes[i] as Lane;
    const s = state[i] as (typeof state)[number];
    return (
      s.failure !== undefined ||
      s.samples.length + s.failed >= lane.limits.maxRuns ||
      (s.samples.length >= lane.limits.minRuns && s.spentMs >= lane.limits.budgetMs)
    );
  };
  const step = async (i: number, timed: boolean): Promise<void> => {
    const lane = lanes[i] as Lane;
    const s = state[i] as (typeof state)[number];
    const run = s.next++;
    let t0 = performance.now();
    try {
      await lane.prepare?.(run);
      t0 = performance.now();
      await lane.body(run);
      const ms = performance.now() - t0;
      lane.after?.(run);
      if (lane.name !== undefined && ms > 10_000) {
        console.log(
          `  ${lane.name}: ${timed ? `run ${s.samples.length + 1}` : "warm-up"} took ${duration(ms)}`,
        );
      }
      if (timed) {
        s.samples.push(ms);
        s.spentMs += ms;
      }
      s.inARow = 0;
    } catch (error) {
      s.failed++;
      s.inARow++;
      s.spentMs += performance.now() - t0;
      s.firstFailure ??= describeError(error);
      if (s.inARow >= FAILURES_IN_A_ROW) s.failure = describeError(error);
    }
  };

  for (let i = 0; i < lanes.length; i++) {
    for (let w = 0; w < (lanes[i] as Lane).limits.warmup && state[i]?.failure === undefined; w++) {
      await step(i, false);
    }
  }
  for (let round = 0; lanes.some((_, i) => !finished(i)); round++) {
    const order = lanes.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const blockStart = performance.now();
      while (!finished(i)) {
        await step(i, true);
        if (performance.now() - blockStart >= blockMs) break;
      }
    }
  }
  return state.map((s) => ({
    timings: timings(s.samples, s.spentMs),
    ...(s.failure === undefined ? {} : { failure: s.failure }),
    failed: s.failed,
    ...(s.firstFailure === undefined ? {} : { firstFailure: s.firstFailure }),
  }));
}

function describeError(error: unknown): string {
  let innermost = error;
  while (innermost instanceof Error && innermost.cause !== undefined) innermost = innermost.cause;
  const outer = error instanceof Error ? error.message : String(error);
  const inner = innermost instanceof Error ? innermost.message : String(innermost);
  const message = inner === outer ? outer : `${outer}: ${inner}`;
  return message.split("\n")[0] ?? message;
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

function listReadable(authorizer: Authorizer, user: string, pageSize?: number): Promise<string[]> {
  return lookupAllResources(authorizer, {
    entityType: "document",
    permission: "view",
    subject: { type: "user", id: user },
    ...(pageSize === undefined ? {} : { pageSize }),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Report

/** Milliseconds below a second, seconds from there. */
const duration = (ms: number): string => (ms < 1_000 ? `${fmt(ms)} ms` : `${fmt(ms / 1000)} s`);

function commandLine(options: Options): string {
  const args = [
    ...(options.authorizer === "permify" ? [] : ["--authorizer", options.authorizer]),
    ...(options.authorizer === "permify" && options.permifyEngine !== "postgres"
      ? ["--permify-engine", options.permifyEngine]
      : []),
    ...(options.quick ? ["--quick"] : []),
    ...(options.permifyEndpoint === undefined ? [] : ["--permify-endpoint", options.permifyEndpoint]),
    ...(options.permifyToken === undefined ? [] : ["--permify-token", "…"]),
  ];
  return `npm run bench:authz${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`;
}

function describeGraph(graph: BankGraph, tuples: readonly Tuple[], seed: number): string {
  return (
    `${count(graph.documents.length)} documents in ${count(graph.collections.length)} collections, ` +
    `${count(graph.teams.length)} teams, ${count(graph.users.length)} users, ${count(tuples.length)} tuples, seed ${seed}`
  );
}

// ---------------------------------------------------------------------------------------------------------
// One authorizer (the embedded evaluator)

async function runSingle(options: Options, graph: BankGraph, tuples: readonly Tuple[]): Promise<void> {
  const reference = bankReference(tuples);
  const authorizer = await createEmbeddedAuthorizer();
  const rows: string[][] = [];
  try {
    await authorizer.writeSchema(graph.schema);
    const load = performance.now();
    for (let i = 0; i < tuples.length; i += WRITE_BATCH) {
      await authorizer.writeData({ tuples: tuples.slice(i, i + WRITE_BATCH) });
    }
    rows.push([
      `load ${count(tuples.length)} tuples (batches of ${WRITE_BATCH})`,
      `${fmt(performance.now() - load)} ms`,
      "",
    ]);

    // Single checks, one after another.
    const singles = randomChecks(graph, 200_000, options.seed + 1);
    let allowedSingles = 0;
    const single = await measure(
      async (i) => {
        if (await authorizer.check(singles[i % singles.length] as CheckRequest)) allowedSingles++;
      },
      { warmup: 500, minRuns: 1_000, maxRuns: singles.length - 500, budgetMs: 3_000 },
    );
    rows.push([
      "single check (sequential)",
      `${count((single.runs / single.totalMs) * 1000)} checks/s; median ${fmt(single.medianMs)} ms, ` +
        `p95 ${fmt(single.p95Ms)} ms (${count(single.runs)} checks, ${Math.round((100 * allowedSingles) / (single.runs + 500))}% allowed)`,
      "",
    ]);

    // Bulk checks of 100 items.
    const bulkItems = randomChecks(graph, BULK_SIZE * 2_000, options.seed + 2);
    let failedBulk = 0;
    const bulk = await measure(
      async (i) => {
        const start = (i * BULK_SIZE) % bulkItems.length;
        const outcomes = await authorizer.checkMany(bulkItems.slice(start, start + BULK_SIZE));
        failedBulk += outcomes.filter(isCheckFailure).length;
      },
      { warmup: 20, minRuns: 50, maxRuns: 1_980, budgetMs: 3_000 },
    );
    const bulkMet = bulk.medianMs < AIM_BULK_MEDIAN_MS;
    rows.push([
      `bulk check (checkMany of ${BULK_SIZE})`,
      `${count(((bulk.runs * BULK_SIZE) / bulk.totalMs) * 1000)} checks/s; one call median ${fmt(bulk.medianMs)} ms, ` +
        `p95 ${fmt(bulk.p95Ms)} ms (${count(bulk.runs)} calls${failedBulk > 0 ? `, ${failedBulk} items failed` : ""})`,
      `median < ${AIM_BULK_MEDIAN_MS} ms: ${bulkMet ? "met" : "NOT met"}`,
    ]);

    // Listing every viewable document, for each probe user.
    for (const probe of graph.probes) {
      const expected = reference.viewableDocuments(probe.user);
      let listed: string[] = [];
      const list = await measure(
        async () => {
          listed = await listReadable(authorizer, probe.user);
        },
        { warmup: 2, minRuns: 5, maxRuns: 200, budgetMs: 4_000 },
      );
      const share = (100 * listed.length) / graph.documents.length;
      const agrees = sameIds(listed, expected);
      const aim =
        probe.label === "10%"
          ? `median < ${AIM_LIST_10_PERCENT_MEDIAN_MS} ms: ${list.medianMs < AIM_LIST_10_PERCENT_MEDIAN_MS ? "met" : "NOT met"}`
          : "";
      rows.push([
        `list viewable documents, ${probe.label} user (${probe.user})`,
        `median ${fmt(list.medianMs)} ms, p95 ${fmt(list.p95Ms)} ms; ${count(listed.length)} documents = ${share.toFixed(1)}%` +
          ` (${list.runs} runs${agrees ? "" : `; MISMATCH: reference says ${count(expected.length)}`})`,
        aim,
      ]);
    }
  } finally {
    await authorizer.close();
  }

  const headers = ["measurement", "result", "aim"];
  const date = new Date().toISOString();
  const title = `Authorizer benchmark: ${options.authorizer}${options.quick ? " (quick graph)" : ""}`;
  console.log(`\n${title}\n${machine()}\n${date}\n\n${textTable(headers, rows)}\n`);

  const markdown = [
    `# ${title}`,
    "",
    `- date: ${date}`,
    `- machine: ${machine()}`,
    `- graph: ${count(graph.documents.length)} documents in ${count(graph.collections.length)} collections, ` +
      `${count(graph.teams.length)} teams, ${count(graph.users.length)} users, seed ${options.seed}`,
    `- command: \`${commandLine(options)}\``,
    "",
    markdownTable(headers, rows),
    "",
    "Single checks run one after another; bulk calls draw from the same kind of random mix (a quarter for the probe",
    "users). Lists page with the authorizer's default page size through `lookupAllResources` and are compared with",
    "the generator's reference. Aims are from the issue and are reported, not enforced.",
    "",
  ].join("\n");
  await writeResults(options.quick ? "authz-quick.md" : "authz.md", markdown);
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

// ---------------------------------------------------------------------------------------------------------
// Permify next to the embedded evaluator

/** Permify's deadlines here: one page of a 100% list takes minutes on the memory engine. */
const PERMIFY_READ_MS = 30 * 60_000;
const PERMIFY_WRITE_MS = 60_000;
/** Runs of Permify's 100% list, whatever its time: each takes minutes (see the note in the results). */
const FULL_LIST_MIN_RUNS = 3;
/** Unrelated writes go to this team, which is granted nothing. */
const NOISE_TEAM = "bench-noise";
/** The adapters' page size when a lookup names none. */
const DEFAULT_PAGE_SIZE = 1_000;

/** The decisions both authorizers made on the same items, compared with each other and the reference. */
interface Verdict {
  compared: number;
  mismatches: number;
  first?: string;
}

function compareDecisions(
  items: readonly CheckRequest[],
  permify: readonly (CheckOutcome | undefined)[],
  embedded: readonly (CheckOutcome | undefined)[],
  reference: (request: CheckRequest) => boolean,
): Verdict {
  const verdict: Verdict = { compared: 0, mismatches: 0 };
  items.forEach((item, i) => {
    const p = permify[i];
    const e = embedded[i];
    if (p === undefined || e === undefined) return;
    verdict.compared++;
    const r = reference(item) ? "allowed" : "denied";
    if (p === r && e === r) return;
    verdict.mismatches++;
    verdict.first ??= `${item.entity.type}:${item.entity.id} view by ${item.subject.type}:${item.subject.id}: Permify ${p}, embedded ${e}, reference ${r}`;
  });
  return verdict;
}

function referenceOracle(reference: BankReference): (request: CheckRequest) => boolean {
  const viewable = new Map<string, Set<string>>();
  return (request) => {
    let documents = viewable.get(request.subject.id);
    if (!documents) {
      documents = new Set(reference.viewableDocuments(request.subject.id));
      viewable.set(request.subject.id, documents);
    }
    return documents.has(request.entity.id);
  };
}

/** Every list a lane produced, compared with the reference. */
interface ListVerdict {
  runs: number;
  disagreements: number;
  first?: string;
}

function checkList(verdict: ListVerdict, listed: readonly string[], expected: readonly string[]): void {
  verdict.runs++;
  if (sameIds(listed, expected)) return;
  verdict.disagreements++;
  if (verdict.first !== undefined) return;
  const want = new Set(expected);
  const got = new Set(listed);
  const missing = expected.filter((id) => !got.has(id));
  const extra = listed.filter((id) => !want.has(id));
  verdict.first =
    `${count(listed.length)} documents, reference ${count(expected.length)}` +
    (missing.length > 0 ? `; missing ${missing.slice(0, 3).join(", ")}` : "") +
    (extra.length > 0 ? `; extra ${extra.slice(0, 3).join(", ")}` : "") +
    (missing.length === 0 && extra.length === 0 ? "; same ids, out of order" : "");
}

function describeListVerdicts(verdicts: Readonly<Record<string, ListVerdict>>): string {
  const all = Object.entries(verdicts);
  const bad = all
    .filter(([, v]) => v.disagreements > 0)
    .map(([who, v]) => `${who} ${v.disagreements}/${v.runs}: ${v.first}`);
  if (bad.length > 0) return `DISAGREE (${bad.join("; ")})`;
  const runs = all.reduce((sum, [, v]) => sum + v.runs, 0);
  return runs === 0 ? "" : `agree (${count(runs)} lists)`;
}

function describeVerdict(verdict: Verdict): string {
  if (verdict.compared === 0) return "";
  if (verdict.mismatches === 0) return `agree (${count(verdict.compared)} decisions)`;
  return `DISAGREE (${count(verdict.mismatches)} of ${count(verdict.compared)} decisions; first: ${verdict.first})`;
}

const ratio = (permify: number, embedded: number): string => {
  if (!Number.isFinite(permify) || !Number.isFinite(embedded) || embedded === 0) return "";
  const r = permify / embedded;
  const digits = r >= 100 ? 0 : r >= 10 ? 1 : r >= 1 ? 2 : Math.min(8, 1 - Math.floor(Math.log10(r)));
  return `${r.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })}×`;
};

const medianP95 = (t: Timings): string =>
  t.runs === 0 ? "no run completed" : `${duration(t.medianMs)} / ${duration(t.p95Ms)}`;
const rate = (t: Timings, itemsPerRun: number): number => (t.runs * itemsPerRun * 1000) / t.totalMs;
/** Items per second of a lane that did not fail, else NaN (which leaves the ratio empty). */
const rateOf = (result: LaneResult | undefined, itemsPerRun: number): number =>
  result === undefined || result.failure !== undefined ? Number.NaN : rate(result.timings, itemsPerRun);
const medianOf = (result: LaneResult | undefined): number =>
  result === undefined || result.failure !== undefined ? Number.NaN : result.timings.medianMs;

function cellOrFailure(result: LaneResult | undefined, cell: (t: Timings) => string): string {
  if (result === undefined) return "";
  const failed =
    result.failed > 0 && result.failure === undefined
      ? `; ${result.failed} failed (first: ${result.firstFailure})`
      : "";
  if (result.failure === undefined) return `${cell(result.timings)}${failed}`;
  const before = result.timings.runs > 0 ? `${cell(result.timings)}, then ` : "";
  return `${before}FAILED: ${result.failure}`;
}

/** The two authorizers under comparison, holding the same graph. */
interface Pair {
  readonly embedded: Authorizer;
  readonly permify: Authorizer;
}

/** The comparison table as it grows, and what must make the exit code 1. */
class Report {
  readonly rows: string[][] = [];
  readonly problems: string[] = [];

  add(measurement: string, embedded: string, permify: string, ratioCell: string, answers: string): void {
    this.rows.push([measurement, embedded, permify, ratioCell, answers]);
    if (answers.startsWith("DISAGREE")) this.problems.push(`${measurement}: ${answers}`);
    for (const cell of [embedded, permify]) {
      if (cell.includes("FAILED: ")) this.problems.push(`${measurement}: ${cell}`);
    }
  }
}

/** The same batches into both authorizers, alternating, each timed on its own. */
async function compareLoad(
  report: Report,
  pair: Pair,
  graph: BankGraph,
  tuples: readonly Tuple[],
): Promise<void> {
  await pair.embedded.writeSchema(graph.schema);
  await pair.permify.writeSchema(graph.schema);
  let embeddedMs = 0;
  let permifyMs = 0;
  for (let i = 0; i < tuples.length; i += WRITE_BATCH) {
    const batch = tuples.slice(i, i + WRITE_BATCH);
    let t0 = performance.now();
    await pair.embedded.writeData({ tuples: batch });
    embeddedMs += performance.now() - t0;
    t0 = performance.now();
    await pair.permify.writeData({ tuples: batch });
    permifyMs += performance.now() - t0;
    const done = Math.min(i + WRITE_BATCH, tuples.length);
    if (done === tuples.length || (i / WRITE_BATCH) % 10 === 9) {
      console.log(`loaded ${count(done)} of ${count(tuples.length)} tuples into both`);
    }
  }
  report.add(
    `load ${count(tuples.length)} tuples (writes of ${count(WRITE_BATCH)})`,
    duration(embeddedMs),
    duration(permifyMs),
    ratio(permifyMs, embeddedMs),
    "",
  );
}

/** Single checks, one after another, over the same random items on both sides. */
async function compareSingleChecks(
  report: Report,
  pair: Pair,
  graph: BankGraph,
  seed: number,
  reference: (request: CheckRequest) => boolean,
): Promise<void> {
  console.log("single checks…");
  const items = randomChecks(graph, 200_000, seed);
  const lane = (authorizer: Authorizer, outcomes: CheckOutcome[], limits: Limits): Lane => ({
    limits,
    body: async (run) => {
      const i = run % items.length;
      const allowed = await authorizer.check(items[i] as CheckRequest);
      if (run < items.length) outcomes[i] = allowed ? "allowed" : "denied";
    },
  });
  const outcomes = { embedded: [] as CheckOutcome[], permify: [] as CheckOutcome[] };
  const [embedded, permify] = await interleaved(
    [
      lane(pair.embedded, outcomes.embedded, {
        warmup: 500,
        minRuns: 1_000,
        maxRuns: items.length - 500,
        budgetMs: 3_000,
      }),
      lane(pair.permify, outcomes.permify, {
        warmup: 5,
        minRuns: 30,
        maxRuns: items.length - 5,
        budgetMs: 3_000,
      }),
    ],
    250,
  );
  const perSecond = (t: Timings) => `${count(rate(t, 1))}/s (${count(t.runs)} checks)`;
  report.add(
    "single check (sequential): checks/s",
    cellOrFailure(embedded, perSecond),
    cellOrFailure(permify, perSecond),
    ratio(rateOf(permify, 1), rateOf(embedded, 1)),
    describeVerdict(compareDecisions(items, outcomes.permify, outcomes.embedded, reference)),
  );
  report.add(
    "single check: one check, median / p95",
    cellOrFailure(embedded, medianP95),
    cellOrFailure(permify, medianP95),
    ratio(medianOf(permify), medianOf(embedded)),
    "",
  );
}

/** checkMany of 100 random items: one BulkCheck call on Permify. */
async function compareBulkChecks(
  report: Report,
  pair: Pair,
  graph: BankGraph,
  seed: number,
  reference: (request: CheckRequest) => boolean,
): Promise<void> {
  console.log(`bulk checks of ${BULK_SIZE}…`);
  const calls = 2_000;
  const items = randomChecks(graph, BULK_SIZE * calls, seed);
  const lane = (authorizer: Authorizer, outcomes: CheckOutcome[], limits: Limits): Lane => ({
    limits,
    body: async (run) => {
      const start = (run * BULK_SIZE) % items.length;
      const answers = await authorizer.checkMany(items.slice(start, start + BULK_SIZE));
      if (run >= calls) return;
      answers.forEach((outcome, j) => {
        outcomes[start + j] = outcome;
      });
    },
  });
  const outcomes = { embedded: [] as CheckOutcome[], permify: [] as CheckOutcome[] };
  const [embedded, permify] = await interleaved(
    [
      lane(pair.embedded, outcomes.embedded, {
        warmup: 20,
        minRuns: 50,
        maxRuns: calls - 20,
        budgetMs: 3_000,
      }),
      lane(pair.permify, outcomes.permify, { warmup: 1, minRuns: 5, maxRuns: calls - 1, budgetMs: 5_000 }),
    ],
    500,
  );
  const perSecond = (t: Timings) => `${count(rate(t, BULK_SIZE))}/s (${count(t.runs)} calls)`;
  report.add(
    `bulk check (checkMany of ${BULK_SIZE}): checks/s`,
    cellOrFailure(embedded, perSecond),
    cellOrFailure(permify, perSecond),
    ratio(rateOf(permify, BULK_SIZE), rateOf(embedded, BULK_SIZE)),
    describeVerdict(compareDecisions(items, outcomes.permify, outcomes.embedded, reference)),
  );
  report.add(
    "bulk check: one call, median / p95",
    cellOrFailure(embedded, medianP95),
    cellOrFailure(permify, medianP95),
    ratio(medianOf(permify), medianOf(embedded)),
    "",
  );
}

/**
 * Full lists for each probe user. Permify computes every list afresh (it has no list cache, and on the
 * memory engine not even its check cache applies). The embedded evaluator keeps complete lists until the
 * data changes, so it is measured both ways: after an unrelated write (computed) and repeated (cached).
 */
async function compareLists(
  report: Report,
  pair: Pair,
  graph: BankGraph,
  reference: BankReference,
  engine: PermifyEngine,
  afterCase: (label: string) => Promise<void>,
): Promise<void> {
  let noise = 0;
  const unrelatedWrite = async (): Promise<void> => {
    await pair.embedded.writeData({
      tuples: [
        {
          entity: { type: "team", id: NOISE_TEAM },
          relation: "member",
          subject: { type: "user", id: `${NOISE_TEAM}-${noise++}` },
        },
      ],
    });
  };
  const listLane = (
    name: string,
    authorizer: Authorizer,
    user: string,
    expected: readonly string[],
    verdict: ListVerdict,
    limits: Limits,
    extra: { pageSize?: number; prepare?: () => Promise<void> } = {},
  ): Lane => {
    let listed: string[] = [];
    return {
      name,
      limits,
      ...(extra.prepare === undefined ? {} : { prepare: extra.prepare }),
      body: async () => {
        listed = await listReadable(authorizer, user, extra.pageSize);
      },
      after: () => checkList(verdict, listed, expected),
    };
  };

  const cases: { probe: ProbeUser; pageSize?: number }[] = graph.probes.map((probe) => ({ probe }));
  // Permify checks every candidate from the cursor on for each page, so one page as large as the list is
  // the cheapest way to list everything: an extra row for the 100% user, when its list spans pages.
  const full = graph.probes.find((probe) => probe.target >= 1);
  if (full && graph.documents.length > DEFAULT_PAGE_SIZE) {
    cases.push({ probe: full, pageSize: graph.documents.length });
  }

  for (const { probe, pageSize } of cases) {
    const expected = reference.viewableDocuments(probe.user);
    const label =
      `list ${probe.label} user (${probe.user}, ${count(expected.length)} documents)` +
      (pageSize === undefined ? "" : `, page size ${count(pageSize)}`);
    console.log(`${label}…`);
    const verdicts: Record<"permify" | "computed" | "cached", ListVerdict> = {
      permify: { runs: 0, disagreements: 0 },
      computed: { runs: 0, disagreements: 0 },
      cached: { runs: 0, disagreements: 0 },
    };
    // Full lists take minutes on the memory engine: a fixed number of runs there; seconds on PostgreSQL.
    const permifyLimits: Limits =
      probe.target >= 1 && engine === "memory"
        ? { warmup: 0, minRuns: FULL_LIST_MIN_RUNS, maxRuns: FULL_LIST_MIN_RUNS, budgetMs: 0 }
        : probe.target >= 1
          ? { warmup: 0, minRuns: FULL_LIST_MIN_RUNS, maxRuns: 30, budgetMs: 20_000 }
          : { warmup: 1, minRuns: probe.target <= 0.01 ? 5 : 3, maxRuns: 50, budgetMs: 10_000 };
    const embeddedLimits: Limits = { warmup: 2, minRuns: 5, maxRuns: 200, budgetMs: 2_000 };
    const sized = pageSize === undefined ? {} : { pageSize };
    const lanes = [
      listLane("Permify", pair.permify, probe.user, expected, verdicts.permify, permifyLimits, sized),
      listLane("embedded", pair.embedded, probe.user, expected, verdicts.computed, embeddedLimits, {
        ...sized,
        prepare: unrelatedWrite,
      }),
    ];
    if (pageSize === undefined) {
      // An untimed list first, so that the timed one comes from the lookup cache even right after the
      // other embedded lane wrote.
      lanes.push(
        listLane("embedded", pair.embedded, probe.user, expected, verdicts.cached, embeddedLimits, {
          prepare: async () => {
            await listReadable(pair.embedded, probe.user);
          },
        }),
      );
    }
    const [permify, computed, cached] = await interleaved(lanes, 1_000);
    const withRuns = (t: Timings) => `${medianP95(t)} (${count(t.runs)} runs)`;
    report.add(
      `${label}: median / p95`,
      cellOrFailure(computed, withRuns),
      cellOrFailure(permify, withRuns),
      ratio(medianOf(permify), medianOf(computed)),
      describeListVerdicts({
        Permify: verdicts.permify,
        "embedded computed": verdicts.computed,
        "embedded cached": verdicts.cached,
      }),
    );
    if (cached) {
      report.add(
        "  the same list repeated, embedded from its lookup cache",
        cellOrFailure(cached, withRuns),
        "(no list cache)",
        ratio(medianOf(permify), medianOf(cached)),
        "",
      );
    }
    await afterCase(label);
  }
}

/** What Permify did for one measurement: its gRPC calls, and PostgreSQL's statements underneath. */
interface ProfileRow {
  readonly measurement: string;
  readonly calls: { method: string; calls: number; ms: number; items: number }[];
  readonly statements: { calls: number; ms: number; top: readonly StatementRow[] } | undefined;
}

/** Reads and resets what the connection records, once per measurement. */
async function profileOf(permify: PermifyConnection, measurement: string): Promise<ProfileRow> {
  const calls = [...permify.calls.snapshot()]
    .filter(([method]) => method !== "Write" && method !== "WriteRelationships")
    .map(([method, stats]) => ({ method, calls: stats.calls, ms: stats.totalMs, items: stats.items }));
  permify.calls.reset();
  let statements: ProfileRow["statements"];
  if (permify.statements !== undefined) {
    const all = await permify.statements.top(1_000);
    statements = {
      calls: all.reduce((sum, row) => sum + row.calls, 0),
      ms: all.reduce((sum, row) => sum + row.totalMs, 0),
      top: all.slice(0, 3),
    };
    await permify.statements.reset();
  }
  return { measurement, calls, statements };
}

/** Permify's statements, named by the table and the columns they filter on (the SQL itself is long). */
function describeStatement(query: string): string {
  const table = /FROM\s+(\w+)/i.exec(query)?.[1] ?? "?";
  const verb = query.trim().split(/\s+/)[0]?.toUpperCase() ?? "?";
  const filters = [...query.matchAll(/(\w+)\s*(?:=|IN|>|<)\s*(?:\(|\$|ANY)/gi)].map((m) => m[1]);
  return `${verb} ${table}${filters.length > 0 ? ` by ${[...new Set(filters)].join(", ")}` : ""}`;
}

function profileMarkdown(rows: readonly ProfileRow[]): string[] {
  if (rows.length === 0) return [];
  const perCall = (row: ProfileRow) => row.calls.reduce((sum, c) => sum + c.calls, 0);
  return [
    "## Where the time goes",
    "",
    "Per measurement above (warm-up included): the adapter's gRPC calls to Permify, counted and timed by a",
    "client middleware (ids answered by LookupEntity, items asked of BulkCheck), and the SQL statements",
    "Permify ran on PostgreSQL for them (pg_stat_statements, reset between measurements): how many per",
    "Permify call, their time inside PostgreSQL, and the heaviest three (calls, total time, rows).",
    "The lists right after the load ran before autovacuum had analyzed `relation_tuples`: the lookup by",
    "subject took 17 to 54 ms a statement then, 0.3 ms in the last row once statistics existed. Load, then",
    "`ANALYZE relation_tuples`, before serving lookups from a Permify on PostgreSQL.",
    "",
    markdownTable(
      [
        "measurement",
        "Permify calls: count, total time, mean (items)",
        "SQL statements per call",
        "time in PostgreSQL / time in Permify calls",
        "heaviest statements",
      ],
      rows.map((row) => {
        const grpcMs = row.calls.reduce((sum, c) => sum + c.ms, 0);
        const calls = perCall(row);
        return [
          row.measurement,
          row.calls
            .map(
              (c) =>
                `${c.method} ${count(c.calls)}, ${duration(c.ms)}, ${duration(c.ms / c.calls)} each` +
                (c.items > 0 ? ` (${count(c.items / c.calls)} items each)` : ""),
            )
            .join("; "),
          row.statements === undefined || calls === 0 ? "" : fmt(row.statements.calls / calls),
          row.statements === undefined || grpcMs === 0
            ? ""
            : `${duration(row.statements.ms)} / ${duration(grpcMs)} (${Math.round((100 * row.statements.ms) / grpcMs)}%)`,
          row.statements?.top
            .map(
              (t) =>
                `${describeStatement(t.query)}: ${count(t.calls)} × ${duration(t.totalMs / Math.max(1, t.calls))} (${count(t.rows)} rows)`,
            )
            .join("; ") ?? "",
        ];
      }),
    ),
    "",
  ];
}

async function runComparison(options: Options, graph: BankGraph, tuples: readonly Tuple[]): Promise<void> {
  const started = performance.now();
  const embedded = await createEmbeddedAuthorizer();
  let permify: PermifyConnection;
  try {
    permify = await connectPermify({
      ...(options.permifyEndpoint === undefined ? {} : { endpoint: options.permifyEndpoint }),
      ...(options.permifyToken === undefined ? {} : { token: options.permifyToken }),
      engine: options.permifyEngine,
      readMs: PERMIFY_READ_MS,
      writeMs: PERMIFY_WRITE_MS,
    });
  } catch (error) {
    await embedded.close();
    throw error;
  }
  console.log(`Permify ${permify.version}: ${permify.description}`);
  const pair: Pair = { embedded, permify: permify.authorizer };
  const report = new Report();
  const reference = bankReference(tuples);
  const allows = referenceOracle(reference);
  const profile: ProfileRow[] = [];
  try {
    await compareLoad(report, pair, graph, tuples);
    await permify.statements?.reset();
    permify.calls.reset();
    await compareSingleChecks(report, pair, graph, options.seed + 1, allows);
    profile.push(await profileOf(permify, "single checks"));
    await compareBulkChecks(report, pair, graph, options.seed + 2, allows);
    profile.push(await profileOf(permify, `bulk checks of ${BULK_SIZE}`));
    await compareLists(report, pair, graph, reference, options.permifyEngine, async (label) => {
      profile.push(await profileOf(permify, label));
    });
  } finally {
    await embedded.close();
    await permify.stop();
  }

  const totalMs = performance.now() - started;
  const headers = ["measurement", "embedded", "Permify", "Permify/embedded", "answers"];
  const date = new Date().toISOString();
  const engine = options.permifyEndpoint === undefined ? ` (${options.permifyEngine} engine)` : "";
  const title = `Authorizer benchmark: Permify${engine} next to the embedded evaluator${options.quick ? " (quick graph)" : ""}`;
  const seconds = Math.round(totalMs / 1000);
  const runTime = `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  console.log(
    `\n${title}\n${machine()}\nPermify ${permify.version}, ${permify.description}\n` +
      `${date}, run time ${runTime}\n\n${textTable(headers, report.rows)}\n`,
  );
  await writeResults(
    `authz-permify${options.permifyEngine === "memory" ? "" : `-${options.permifyEngine}`}${options.quick ? "-quick" : ""}.md`,
    comparisonMarkdown({
      title,
      date,
      runTime,
      options,
      graph,
      tuples,
      permify,
      headers,
      rows: report.rows,
      profile,
    }),
  );
  if (report.problems.length > 0) {
    console.error(
      `\n${report.problems.length} problem(s):\n${report.problems.map((p) => `- ${p}`).join("\n")}`,
    );
    process.exitCode = 1;
  }
}

function comparisonMarkdown(run: {
  title: string;
  date: string;
  runTime: string;
  options: Options;
  graph: BankGraph;
  tuples: readonly Tuple[];
  permify: PermifyConnection;
  headers: readonly string[];
  rows: readonly (readonly string[])[];
  profile: readonly ProfileRow[];
}): string {
  return [
    `# ${run.title}`,
    "",
    `- date: ${run.date}`,
    `- machine: ${machine()}`,
    `- Permify: ${run.permify.version}, ${run.permify.description}; through the adapter, gRPC on loopback`,
    `- graph: ${describeGraph(run.graph, run.tuples, run.options.seed)}`,
    `- command: \`${commandLine(run.options)}\``,
    `- run time: ${run.runTime}`,
    "",
    markdownTable(run.headers, run.rows),
    "",
    ...profileMarkdown(run.profile),
    ...READING_NOTES,
  ].join("\n");
}

const READING_NOTES = [
  "## How to read it",
  "",
  "- Both authorizers hold the same graph and answer the same requests in one run, in alternating blocks of",
  "  work (a few hundred milliseconds of checks, or about a second of lists, at a time), so the noise of a",
  "  shared machine falls on both alike. The ratio column is the figure to compare across runs; absolute",
  "  figures move with the machine's load.",
  "- Permify/embedded is Permify's figure divided by the embedded evaluator's: above 1 in a time row, or",
  "  below 1 in a rate row, means Permify is slower. Permify's figures include the adapter, gRPC and",
  "  loopback; the embedded evaluator runs in the benchmark's own process.",
  "- Single checks run one after another; bulk calls draw 100 items at a time from the same kind of random",
  "  mix (a quarter for the probe users). Lists page with the default page size (1,000) through",
  "  `lookupAllResources` unless the row names another.",
  "- Embedded lists are measured twice: computed, with one unrelated relationship written before each list",
  "  so that its lookup cache cannot answer (the ratio column of the list row uses this one), and repeated,",
  "  from that cache, which is what a server sees while the data does not change. Permify has no list cache.",
  `- On the memory engine Permify's 100% lists take minutes each, so they run ${FULL_LIST_MIN_RUNS} times whatever the time;`,
  "  the other rows run until a time budget is spent, with a minimum number of runs. Each cell says how many",
  "  runs were measured.",
  "- answers: every list of every run, on both sides, is compared with the generator's reference; the check",
  "  decisions both authorizers made on the same items are compared with each other and with the reference.",
  "  DISAGREE is a correctness bug, not a timing, and makes the exit code 1.",
  "",
  "## What Permify does underneath",
  "",
  "- `bulkCheck` (one `checkMany` of 100 is one call) starts one goroutine per item, each a normal check.",
  "  With 100 items the adapter's `bulkConcurrency` (calls in flight for a larger checkMany) does not apply.",
  "- `lookupEntity` walks the schema backwards from the subject to enumerate candidate documents, sorts them",
  "  by id and runs a full check on each candidate (100 at a time). `page_size` bounds only the answer: every",
  "  page enumerates and checks all the candidates from its cursor on. A list of 10,000 documents in pages of",
  "  1,000 therefore checks about 55,000 candidates, against 10,000 in one page of 10,000 (the extra row).",
  "  The 1% and 10% lists fit in one default page, so for them the page size makes no difference.",
  '- On PostgreSQL every check reads relationships with indexed queries (the table "where the time goes"',
  "  names them); Permify's check cache keys on the snapshot, so repeated checks between writes hit it.",
  "  Some LookupEntity calls fail with `ERROR_CODE_SCAN` (PostgreSQL reads cancelled under Permify's own",
  "  concurrent checks come back as i/o timeouts): such runs are counted as failed, as a caller would get",
  "  a 503, and left out of the timings.",
  "- On the memory engine (`--permify-engine memory`, go-memdb) relationships are indexed by tenant, entity type and relation only:",
  "  reading one document's viewers scans every `document#viewer` tuple (about 10,000 here), so each check",
  "  costs milliseconds, and these figures say more about the memory engine than about Permify on",
  "  PostgreSQL.",
  "- The adapter sends no gRPC keepalive pings: Permify's server keeps grpc-go's default policy (at most one",
  "  ping every 5 minutes) and closes a connection that pings more often, under the calls in flight. An error",
  "  in any run ends its row with FAILED (after the timings of the runs that completed) and exit code 1.",
  "",
];

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const shape = options.quick ? QUICK_GRAPH : FULL_GRAPH;

  const generated = performance.now();
  const graph = generateBankGraph({ ...shape, seed: options.seed });
  const tuples = graphTuples(graph);
  console.log(
    `graph (seed ${options.seed}): ${count(graph.documents.length)} documents, ${count(graph.collections.length)} collections, ` +
      `${count(graph.teams.length)} teams, ${count(graph.users.length)} users, ${count(tuples.length)} tuples ` +
      `(generated in ${fmt(performance.now() - generated)} ms)`,
  );

  if (options.authorizer === "permify") {
    await runComparison(options, graph, tuples);
  } else {
    await runSingle(options, graph, tuples);
  }
}

try {
  await main();
} catch (error) {
  console.error(`bench:authz failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
