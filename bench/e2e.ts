/**
 * End-to-end retrieval benchmark: `POST /v1/search` through the real app (JWT verification, validation,
 * retrieval, audit, JSON response) on the embedded adapters, for principals who may read about 1%, 10% and
 * 100% of a synthetic bank corpus, against the same app with authorization taken out.
 *
 *   npm run bench:e2e -- [--quick] [--seed N]
 *
 * The corpus is 5,000 documents of 20 chunks (100,000 chunks; `--quick`: 500 documents, 10,000 chunks)
 * under the bank schema (fixtures/schema.perm): a forest of collections with owners, team, user and agent
 * viewers; teams, some nested; customer documents; and one document in ten with a section narrower than
 * the document (its last five chunks, readable only by an audience team). Chunk text is drawn from
 * banking topic vocabularies (one topic per collection) and embedded with the hashing embedder (384
 * dimensions), so queries rank chunks by shared words, as they would in the demo.
 *
 * Cases run interleaved, one request each per round in a shuffled order, so machine noise hits all alike.
 * Every round also makes one unrelated write to the authorizer and then runs each authorized case once
 * more: those "after a write" samples cannot reuse a list the authorizer computed before, so they show
 * the cost of authorization when the data has just changed. Every response is checked against the
 * generator's own reference of who may read what; a passage outside it stops the benchmark. Timing aims
 * are reported, never enforced.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { pino } from "pino";
import { createMemoryAuditLog } from "../src/adapters/audit/memory-audit-trail.ts";
import { createEmbeddedAuthorizer } from "../src/adapters/embedded-authz/embedded-authorizer.ts";
import { createEmbeddedVectorStore } from "../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { createExtractiveAnswerer } from "../src/adapters/offline/extractive-answerer.ts";
import { createHashingEmbedder } from "../src/adapters/offline/hashing-embedder.ts";
import { composeApp } from "../src/composition.ts";
import type { Tuple } from "../src/core/authz-model.ts";
import type { EmbeddedChunk } from "../src/core/chunk.ts";
import type { Principal } from "../src/core/principal.ts";
import type { RetrievalPorts, RetrievalRequest, RetrievalResult } from "../src/core/retrieval.ts";
import type { App } from "../src/http/app-env.ts";
import { createTokenVerifier } from "../src/http/token-verifier.ts";
import type { Authorizer } from "../src/ports/authorizer.ts";
import type { Embedder } from "../src/ports/embedder.ts";
import type { VectorStore } from "../src/ports/vector-store.ts";
import { idOf, seededRandom, shuffle } from "./authz-graph.ts";
import { machine, percentile, writeResults } from "./bench-support.ts";

const AIM_RATIO = 1.5;
const K = 10;
const DIMENSIONS = 384;
const WRITE_BATCH = 1_000;
const ISSUER = "https://id.bench.example";
const AUDIENCE = "clearance";
const SCHEMA = readFileSync(new URL("../fixtures/schema.perm", import.meta.url), "utf8");

// ---------------------------------------------------------------------------------------------------------
// Corpus

export interface CorpusShape {
  readonly seed: number;
  readonly documents: number;
  readonly chunksPerDocument: number;
  readonly collections: number;
  readonly teams: number;
  readonly users: number;
  readonly customers: number;
  readonly agents: number;
  /** Longest parent chain below a root collection (a root has depth 0). */
  readonly maxCollectionDepth: number;
}

export const FULL_CORPUS: CorpusShape = {
  seed: 20_260_601,
  documents: 5_000,
  chunksPerDocument: 20,
  collections: 250,
  teams: 60,
  users: 3_000,
  customers: 400,
  agents: 10,
  maxCollectionDepth: 3,
};

export const QUICK_CORPUS: CorpusShape = {
  seed: 20_260_601,
  documents: 500,
  chunksPerDocument: 20,
  collections: 100,
  teams: 20,
  users: 400,
  customers: 50,
  agents: 5,
  maxCollectionDepth: 3,
};

/** Share of documents with a section narrower than the document, and how many of its last chunks it holds. */
const SECTION_SHARE = 0.1;
const SECTION_CHUNKS = 5;
const AUDIENCE_TEAMS = ["legal", "risk", "audit", "compliance"] as const;

interface CollectionData {
  readonly id: string;
  readonly parent?: string;
  readonly topic: number;
  readonly owner: string;
  readonly viewerUsers: string[];
  readonly viewerTeams: string[];
  readonly viewerAgents: string[];
}

interface DocumentData {
  readonly id: string;
  readonly collection: string;
  readonly owner: string;
  readonly viewerUsers: readonly string[];
  readonly viewerTeams: readonly string[];
  readonly customer?: string;
  readonly section?: { readonly id: string; readonly audienceTeam: string };
}

interface ChunkData {
  readonly id: string;
  readonly documentId: string;
  readonly sectionId?: string;
  readonly resource: string;
  readonly ordinal: number;
  readonly title: string;
  readonly text: string;
}

/** One benchmark case: a principal and the share of chunks it was built to read. */
export interface ProbeCase {
  readonly name: string;
  readonly principal: Principal;
  readonly target: number;
}

export interface Corpus {
  readonly shape: CorpusShape;
  readonly users: readonly string[];
  /** Team id to its direct members: user ids, and `team:<id>` for a nested team's members. */
  readonly teamMembers: ReadonlyMap<string, readonly string[]>;
  readonly customers: ReadonlyMap<string, { readonly holder: string; readonly banker: string }>;
  readonly collections: readonly CollectionData[];
  readonly documents: readonly DocumentData[];
  readonly chunks: readonly ChunkData[];
  readonly probes: readonly ProbeCase[];
  readonly queries: readonly string[];
  readonly roots: number;
}

export const TOPICS: readonly (readonly string[])[] = [
  "card transaction dispute chargeback merchant provisional credit statement billing cycle contactless chip pin declined authorization limit",
  "mortgage escrow appraisal amortization refinance closing lien principal interest rate lock underwriting property title insurance",
  "fraud alert suspicious login phishing impersonation stolen identity verification freeze compromised device takeover",
  "laundering sanctions screening threshold report beneficial ownership due diligence politically exposed structuring wire",
  "loan origination credit score collateral covenant default delinquency restructuring repayment schedule guarantor",
  "deposit savings checking overdraft interest yield maturity certificate withdrawal penalty balance minimum",
  "payment transfer clearing settlement swift routing ach batch reversal beneficiary correspondent cutoff",
  "portfolio wealth advisory allocation equity bond fund rebalancing fiduciary retirement custody dividend",
  "insurance claim premium policyholder deductible coverage underwriter adjuster renewal exclusion rider",
  "regulation audit examination finding remediation control attestation regulator capital liquidity stress",
  "employee payroll benefits onboarding leave performance review compensation pension training handbook",
  "security incident vulnerability patch encryption access credential firewall logging backup recovery",
].map((words) => words.split(" "));

const GENERAL = (
  "customer account bank branch request process policy procedure team manager document record notice " +
  "review approval system online mobile phone email letter form date amount fee charge quarter annual " +
  "report update change contact support service"
).split(" ");

const TOPIC_TITLES = [
  "Card services",
  "Mortgages",
  "Fraud prevention",
  "Anti-money-laundering",
  "Lending",
  "Deposits",
  "Payments",
  "Wealth management",
  "Insurance",
  "Regulatory affairs",
  "People",
  "Information security",
];

export function generateCorpus(shape: CorpusShape): Corpus {
  const random = seededRandom(shape.seed);
  const below = (n: number): number => Math.floor(random() * n);
  const chance = (p: number): boolean => random() < p;
  const pick = <T>(items: readonly T[]): T => items[below(items.length)] as T;
  const distinct = <T>(count: number, draw: () => T): T[] => {
    const picked = new Set<T>();
    while (picked.size < count) picked.add(draw());
    return [...picked];
  };

  const users = Array.from({ length: shape.users }, (_, i) => idOf("u-", i, shape.users));
  const teams = Array.from({ length: shape.teams }, (_, i) => idOf("team-", i, shape.teams));
  const agents = Array.from({ length: shape.agents }, (_, i) => idOf("agent-", i, shape.agents));
  const teamMembers = new Map<string, string[]>();
  for (const team of [...teams, ...AUDIENCE_TEAMS]) teamMembers.set(team, []);
  for (const user of users) {
    for (const team of distinct(below(3), () => pick(teams))) teamMembers.get(team)?.push(user);
  }
  // Some teams contain others (`team:a#member@team:b#member`): a department and its desks.
  for (const team of teams) {
    if (chance(0.1)) {
      const inner = pick(teams);
      if (inner !== team) teamMembers.get(team)?.push(`team:${inner}`);
    }
  }
  for (const team of AUDIENCE_TEAMS) {
    for (const user of distinct(5 + below(15), () => pick(users))) teamMembers.get(team)?.push(user);
  }

  const customers = new Map<string, { holder: string; banker: string }>();
  for (let i = 0; i < shape.customers; i++) {
    customers.set(idOf("cust-", i, shape.customers), { holder: pick(users), banker: pick(users) });
  }
  const customerIds = [...customers.keys()];

  const rootCount = Math.max(1, Math.round(shape.collections / 20));
  const depth: number[] = [];
  const collections: CollectionData[] = [];
  for (let i = 0; i < shape.collections; i++) {
    const id = idOf("col-", i, shape.collections);
    let parent: string | undefined;
    if (i < rootCount) {
      depth.push(0);
    } else {
      const eligible = collections.filter((_, j) => (depth[j] as number) < shape.maxCollectionDepth);
      const parentIndex = collections.indexOf(pick(eligible));
      depth.push((depth[parentIndex] as number) + 1);
      parent = collections[parentIndex]?.id;
    }
    collections.push({
      id,
      ...(parent === undefined ? {} : { parent }),
      topic: i % TOPICS.length,
      owner: pick(users),
      viewerUsers: chance(0.3) ? distinct(1 + below(2), () => pick(users)) : [],
      viewerTeams: chance(0.5) ? [pick(teams)] : [],
      viewerAgents: chance(0.05) ? [pick(agents)] : [],
    });
  }

  const documents: DocumentData[] = Array.from({ length: shape.documents }, (_, i) => {
    const id = idOf("doc-", i, shape.documents);
    const customer = chance(0.1) ? pick(customerIds) : undefined;
    const section = chance(SECTION_SHARE)
      ? { id: `${id}-restricted`, audienceTeam: pick(AUDIENCE_TEAMS) }
      : undefined;
    return {
      id,
      collection: (collections[i % collections.length] as CollectionData).id,
      owner: pick(users),
      viewerUsers: distinct(below(3), () => pick(users)),
      viewerTeams: chance(0.05) ? [pick(teams)] : [],
      ...(customer === undefined ? {} : { customer }),
      ...(section === undefined ? {} : { section }),
    };
  });

  // Probes: leaf collections hold exactly their own documents, so granting leaves gives a known share;
  // the roots give everything. Probe users and teams are never drawn by the random grants above.
  const docsIn = new Map<string, number>();
  for (const doc of documents) docsIn.set(doc.collection, (docsIn.get(doc.collection) ?? 0) + 1);
  const parents = new Set(collections.flatMap((c) => (c.parent === undefined ? [] : [c.parent])));
  const leaves = shuffle(
    collections.filter((c) => !parents.has(c.id)),
    random,
  );
  const grantLeaves = (share: number, viewer: (collection: CollectionData) => void): void => {
    let seen = 0;
    while (seen < share * shape.documents) {
      const leaf = leaves.pop();
      if (leaf === undefined) throw new Error(`not enough leaf collections for a ${share * 100}% probe`);
      viewer(leaf);
      seen += docsIn.get(leaf.id) ?? 0;
    }
  };
  for (const [user, share] of [
    ["probe-1pct", 0.01],
    ["probe-10pct", 0.1],
  ] as const) {
    const team = `${user}-team`;
    teamMembers.set(team, [user]);
    grantLeaves(share, (leaf) => leaf.viewerTeams.push(team));
  }
  // The chief auditor reads everything: viewer of every root through a team, and inside every section's
  // audience because that team is nested in each audience team.
  teamMembers.set("chief-audit", ["probe-all"]);
  for (const root of collections.slice(0, rootCount)) root.viewerTeams.push("chief-audit");
  for (const team of AUDIENCE_TEAMS) teamMembers.get(team)?.push("team:chief-audit");
  // A research assistant that the chief auditor delegates to, granted about a tenth of the collections.
  grantLeaves(0.1, (leaf) => leaf.viewerAgents.push("research-assistant"));

  const chunks: ChunkData[] = [];
  for (const doc of documents) {
    const collection = collections.find((c) => c.id === doc.collection) as CollectionData;
    const title = `${TOPIC_TITLES[collection.topic]}: ${doc.id}`;
    for (let ordinal = 0; ordinal < shape.chunksPerDocument; ordinal++) {
      const inSection = doc.section !== undefined && ordinal >= shape.chunksPerDocument - SECTION_CHUNKS;
      chunks.push({
        id: `${doc.id}:${ordinal}`,
        documentId: doc.id,
        ...(inSection && doc.section ? { sectionId: doc.section.id } : {}),
        resource: inSection && doc.section ? `section:${doc.section.id}` : `document:${doc.id}`,
        ordinal,
        title,
        text: chunkText(collection.topic, doc.id, random),
      });
    }
  }

  const queries = Array.from({ length: 200 }, () => {
    const topic = TOPICS[below(TOPICS.length)] as readonly string[];
    const words = [
      ...distinct(3 + below(4), () => pick(topic)),
      ...distinct(1 + below(2), () => pick(GENERAL)),
    ];
    return shuffle(words, random).join(" ");
  });

  const probes: ProbeCase[] = [
    { name: "1%", principal: { userId: "probe-1pct", agentIds: [] }, target: 0.01 },
    { name: "10%", principal: { userId: "probe-10pct", agentIds: [] }, target: 0.1 },
    { name: "100%", principal: { userId: "probe-all", agentIds: [] }, target: 1 },
    {
      name: "10% (agent for the 100% user)",
      principal: { userId: "probe-all", agentIds: ["research-assistant"] },
      target: 0.1,
    },
  ];

  return {
    shape,
    users,
    teamMembers,
    customers,
    collections,
    documents,
    chunks,
    probes,
    queries,
    roots: rootCount,
  };
}

export function chunkText(topic: number, documentId: string, random: () => number): string {
  const own = TOPICS[topic] as readonly string[];
  const words: string[] = [];
  for (let i = 0; i < 36; i++) {
    const roll = random();
    const source =
      roll < 0.55
        ? own
        : roll < 0.85
          ? GENERAL
          : (TOPICS[Math.floor(random() * TOPICS.length)] as readonly string[]);
    words.push(source[Math.floor(random() * source.length)] as string);
    if (i % 12 === 11) words[words.length - 1] += ".";
  }
  return `${words.join(" ")} Reference ${documentId}.`;
}

/** The corpus's relationships under the bank schema, in a fixed order. */
export function corpusTuples(corpus: Corpus): Tuple[] {
  const tuples: Tuple[] = [];
  const add = (type: string, id: string, relation: string, subject: Tuple["subject"]): void => {
    tuples.push({ entity: { type, id }, relation, subject });
  };
  const subjectOf = (member: string): Tuple["subject"] =>
    member.startsWith("team:")
      ? { type: "team", id: member.slice("team:".length), relation: "member" }
      : { type: "user", id: member };
  for (const [team, members] of corpus.teamMembers) {
    for (const member of members) add("team", team, "member", subjectOf(member));
  }
  for (const [id, customer] of corpus.customers) {
    add("customer", id, "holder", { type: "user", id: customer.holder });
    add("customer", id, "banker", { type: "user", id: customer.banker });
  }
  for (const c of corpus.collections) {
    add("collection", c.id, "owner", { type: "user", id: c.owner });
    if (c.parent !== undefined) add("collection", c.id, "parent", { type: "collection", id: c.parent });
    for (const user of c.viewerUsers) add("collection", c.id, "viewer", { type: "user", id: user });
    for (const team of c.viewerTeams) add("collection", c.id, "viewer", subjectOf(`team:${team}`));
    for (const agent of c.viewerAgents) add("collection", c.id, "viewer", { type: "agent", id: agent });
  }
  for (const d of corpus.documents) {
    add("document", d.id, "owner", { type: "user", id: d.owner });
    add("document", d.id, "collection", { type: "collection", id: d.collection });
    for (const user of d.viewerUsers) add("document", d.id, "viewer", { type: "user", id: user });
    for (const team of d.viewerTeams) add("document", d.id, "viewer", subjectOf(`team:${team}`));
    if (d.customer !== undefined) add("document", d.id, "customer", { type: "customer", id: d.customer });
    if (d.section !== undefined) {
      add("section", d.section.id, "document", { type: "document", id: d.id });
      add("section", d.section.id, "audience", subjectOf(`team:${d.section.audienceTeam}`));
    }
  }
  return tuples;
}

/**
 * The resources a principal may read, straight from the schema's meaning over the generator's data
 * (no authorizer involved): the reference every response is checked against.
 */
export function referenceResources(corpus: Corpus, principal: Principal): Set<string> {
  const subjects: { type: "user" | "agent"; id: string }[] = [
    { type: "user", id: principal.userId },
    ...principal.agentIds.map((id) => ({ type: "agent" as const, id })),
  ];
  let result: Set<string> | undefined;
  for (const subject of subjects) {
    const readable = readableBy(corpus, subject);
    result = result === undefined ? readable : new Set([...result].filter((r) => readable.has(r)));
  }
  return result ?? new Set();
}

function readableBy(corpus: Corpus, subject: { type: "user" | "agent"; id: string }): Set<string> {
  // Teams whose members include the subject, directly or through nested teams (agents are never members).
  const teams = new Set<string>();
  if (subject.type === "user") {
    let grew = true;
    while (grew) {
      grew = false;
      for (const [team, members] of corpus.teamMembers) {
        if (teams.has(team)) continue;
        if (members.some((m) => m === subject.id || (m.startsWith("team:") && teams.has(m.slice(5))))) {
          teams.add(team);
          grew = true;
        }
      }
    }
  }
  const isUser = subject.type === "user";
  const byId = new Map(corpus.collections.map((c) => [c.id, c]));
  const memo = new Map<string, boolean>();
  const viewCollection = (id: string): boolean => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const c = byId.get(id);
    const result =
      c !== undefined &&
      ((isUser && (c.owner === subject.id || c.viewerUsers.includes(subject.id))) ||
        c.viewerTeams.some((t) => teams.has(t)) ||
        (!isUser && c.viewerAgents.includes(subject.id)) ||
        (c.parent !== undefined && viewCollection(c.parent)));
    memo.set(id, result);
    return result;
  };
  const readable = new Set<string>();
  for (const d of corpus.documents) {
    const customer = d.customer === undefined ? undefined : corpus.customers.get(d.customer);
    const viewDocument =
      (isUser &&
        (d.owner === subject.id ||
          d.viewerUsers.includes(subject.id) ||
          customer?.holder === subject.id ||
          customer?.banker === subject.id)) ||
      d.viewerTeams.some((t) => teams.has(t)) ||
      viewCollection(d.collection);
    if (!viewDocument) continue;
    readable.add(`document:${d.id}`);
    if (d.section !== undefined && teams.has(d.section.audienceTeam)) readable.add(`section:${d.section.id}`);
  }
  return readable;
}

// ---------------------------------------------------------------------------------------------------------
// The apps

export interface Bench {
  readonly corpus: Corpus;
  readonly authorizer: Authorizer;
  readonly vectorStore: VectorStore;
  readonly embedder: Embedder;
  /** The real app. */
  readonly authorized: App;
  /** The same app and adapters with a retrieval that searches every chunk: the baseline. */
  readonly unauthorized: App;
  /** A bearer token per probe, in `corpus.probes` order. */
  readonly tokens: readonly string[];
  /** Per probe: the reference resources and how many chunks they hold. */
  readonly references: readonly { readonly resources: Set<string>; readonly chunks: number }[];
  readonly setup: {
    readonly tuples: number;
    readonly loadMs: number;
    readonly embedMs: number;
    readonly ingestMs: number;
  };
  /** An unrelated write, so that no lookup list computed before it can be reused. */
  touch(): Promise<void>;
}

/**
 * The baseline: everything the real retrieval does except authorization, so that the difference between
 * the two apps is exactly the cost of listing the readable resources and searching only inside them.
 */
async function retrieveUnauthorized(
  deps: RetrievalPorts,
  request: RetrievalRequest,
): Promise<RetrievalResult> {
  const started = performance.now();
  const vector = await deps.embedder.embedQuery(request.query);
  const embedMs = performance.now() - started;
  const searchStarted = performance.now();
  const found = await deps.vectorStore.search({ vector, k: request.k });
  const searchMs = performance.now() - searchStarted;
  return {
    passages: found,
    stats: {
      strategy: "pre-filter",
      chosenBy: "configuration",
      finishedWith: "pre-filter",
      candidates: found.length,
      authzCalls: 0,
      authzRounds: 0,
      withheld: 0,
      returned: found.length,
      timingsMs: { authorize: 0, embed: embedMs, search: searchMs, total: performance.now() - started },
    },
  };
}

export async function setUpBench(corpus: Corpus): Promise<Bench> {
  const authorizer = await createEmbeddedAuthorizer();
  await authorizer.writeSchema(SCHEMA);
  const tuples = corpusTuples(corpus);
  const loadStarted = performance.now();
  for (let i = 0; i < tuples.length; i += WRITE_BATCH) {
    await authorizer.writeData({ tuples: tuples.slice(i, i + WRITE_BATCH) });
  }
  const loadMs = performance.now() - loadStarted;

  const embedder = createHashingEmbedder({ dimensions: DIMENSIONS });
  const vectorStore = await createEmbeddedVectorStore({
    dimensions: embedder.dimensions,
    model: embedder.model,
  });
  const documentsById = new Map(corpus.documents.map((d) => [d.id, d]));
  let embedMs = 0;
  let ingestMs = 0;
  const perDocument = corpus.shape.chunksPerDocument;
  for (let start = 0; start < corpus.chunks.length; start += perDocument) {
    const slice = corpus.chunks.slice(start, start + perDocument);
    const embedStarted = performance.now();
    const vectors = await embedder.embedDocuments(slice.map((c) => c.text));
    embedMs += performance.now() - embedStarted;
    const first = slice[0] as ChunkData;
    const doc = documentsById.get(first.documentId) as DocumentData;
    const embedded: EmbeddedChunk[] = slice.map((c, i) => ({
      ...c,
      metadata: {
        collection: doc.collection,
        owner: `user:${doc.owner}`,
        ...(doc.customer === undefined ? {} : { customer: doc.customer }),
      },
      vector: vectors[i] as Float32Array,
    }));
    const ingestStarted = performance.now();
    await vectorStore.replaceDocument(first.documentId, embedded);
    ingestMs += performance.now() - ingestStarted;
  }

  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const deps = {
    authorizer,
    vectorStore,
    embedder,
    chatModel: createExtractiveAnswerer(),
    auditLog: createMemoryAuditLog(),
    tokenVerifier: createTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ["ES256"],
      key: publicKey,
      clockToleranceSeconds: 5,
    }),
    logger: pino({ level: "silent" }),
    limits: { defaultK: K, maxK: 50, queryMaxChars: 500 },
  };
  const { app: authorized } = composeApp(deps);
  const { app: unauthorized } = composeApp({
    ...deps,
    retrieve: (request) => retrieveUnauthorized(deps, request),
  });
  const tokens = await Promise.all(corpus.probes.map((probe) => signToken(privateKey, probe.principal)));

  const chunksOf = new Map<string, number>();
  for (const chunk of corpus.chunks) chunksOf.set(chunk.resource, (chunksOf.get(chunk.resource) ?? 0) + 1);
  const references = corpus.probes.map((probe) => {
    const resources = referenceResources(corpus, probe.principal);
    let chunks = 0;
    for (const resource of resources) chunks += chunksOf.get(resource) ?? 0;
    return { resources, chunks };
  });

  let touches = 0;
  return {
    corpus,
    authorizer,
    vectorStore,
    embedder,
    authorized,
    unauthorized,
    tokens,
    references,
    setup: { tuples: tuples.length, loadMs, embedMs, ingestMs },
    async touch() {
      touches += 1;
      await authorizer.writeData({
        tuples: [
          {
            entity: { type: "team", id: "bench-noise" },
            relation: "member",
            subject: { type: "user", id: `noise-${touches}` },
          },
        ],
      });
    },
  };
}

async function signToken(privateKey: KeyObject, principal: Principal): Promise<string> {
  const act = [...principal.agentIds]
    .reverse()
    .reduce<Record<string, unknown> | undefined>(
      (inner, sub) => (inner ? { sub, act: inner } : { sub }),
      undefined,
    );
  return new SignJWT(act ? { act } : {})
    .setProtectedHeader({ alg: "ES256", typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(principal.userId)
    .setIssuedAt()
    .setExpirationTime("6h")
    .sign(privateKey);
}

export interface SearchPassage {
  readonly chunkId: string;
  readonly documentId: string;
  readonly sectionId: string | null;
  readonly score: number;
}

/** One `POST /v1/search`; throws unless it answered 200. */
export async function search(app: App, token: string, query: string, k = K): Promise<SearchPassage[]> {
  const response = await app.request("/v1/search", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, k }),
  });
  const body = (await response.json()) as { passages?: SearchPassage[] };
  if (response.status !== 200 || !body.passages) {
    throw new Error(`search answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return body.passages;
}

export function passageResource(passage: SearchPassage): string {
  return passage.sectionId === null ? `document:${passage.documentId}` : `section:${passage.sectionId}`;
}

// ---------------------------------------------------------------------------------------------------------
// Measurement

export interface CaseResult {
  readonly name: string;
  /** Chunks the principal may read, and their share of all chunks; undefined for the baseline. */
  readonly readable?: { readonly chunks: number; readonly share: number };
  readonly samples: number;
  readonly medianMs: number;
  readonly p95Ms: number;
}

export interface BenchResult {
  readonly baseline: CaseResult;
  readonly warm: readonly CaseResult[];
  readonly afterWrite: readonly CaseResult[];
}

/**
 * Runs `rounds` rounds after `warmupRounds` untimed ones. A round sends one request for the baseline and
 * one for each probe, in an order shuffled per round; then writes once to the authorizer and sends one
 * more request for each probe (shuffled), timed separately as "after a write". Every passage is checked
 * against the probe's reference.
 */
export async function runBench(
  bench: Bench,
  options: { readonly rounds: number; readonly warmupRounds: number; readonly seed: number },
): Promise<BenchResult> {
  const random = seededRandom(options.seed);
  const { corpus } = bench;
  const probes = corpus.probes.map((probe, index) => ({ probe, index }));
  const warm: number[][] = probes.map(() => []);
  const afterWrite: number[][] = probes.map(() => []);
  const baseline: number[] = [];
  let queryIndex = 0;
  const nextQuery = (): string => corpus.queries[queryIndex++ % corpus.queries.length] as string;

  const timed = async (app: App, token: string, query: string): Promise<[number, SearchPassage[]]> => {
    const started = performance.now();
    const passages = await search(app, token, query);
    return [performance.now() - started, passages];
  };
  const probeRequest = async (index: number, into: number[][], keep: boolean): Promise<void> => {
    const [ms, passages] = await timed(bench.authorized, bench.tokens[index] as string, nextQuery());
    const reference = bench.references[index]?.resources ?? new Set<string>();
    for (const passage of passages) {
      if (!reference.has(passageResource(passage))) {
        throw new Error(
          `LEAK: ${corpus.probes[index]?.name} received ${passage.chunkId} (${passageResource(passage)})`,
        );
      }
    }
    if (keep) into[index]?.push(ms);
  };

  for (let round = 0; round < options.warmupRounds + options.rounds; round++) {
    const keep = round >= options.warmupRounds;
    for (const step of shuffle([-1, ...probes.map((p) => p.index)], random)) {
      if (step === -1) {
        const [ms] = await timed(bench.unauthorized, bench.tokens[0] as string, nextQuery());
        if (keep) baseline.push(ms);
      } else {
        await probeRequest(step, warm, keep);
      }
    }
    await bench.touch();
    for (const step of shuffle(
      probes.map((p) => p.index),
      random,
    )) {
      await probeRequest(step, afterWrite, keep);
    }
  }

  const summarize = (name: string, samples: readonly number[], index?: number): CaseResult => {
    const sorted = [...samples].sort((a, b) => a - b);
    const reference = index === undefined ? undefined : bench.references[index];
    return {
      name,
      ...(reference
        ? { readable: { chunks: reference.chunks, share: reference.chunks / corpus.chunks.length } }
        : {}),
      samples: samples.length,
      medianMs: percentile(sorted, 50),
      p95Ms: percentile(sorted, 95),
    };
  };
  return {
    baseline: summarize("no authorization (baseline)", baseline),
    warm: probes.map(({ probe, index }) => summarize(probe.name, warm[index] ?? [], index)),
    afterWrite: probes.map(({ probe, index }) =>
      summarize(`${probe.name}, after a write`, afterWrite[index] ?? [], index),
    ),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Report

const fmt = (ms: number): string =>
  ms < 1 ? ms.toFixed(3) : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
const count = (n: number): string => Math.round(n).toLocaleString("en-US");

interface Row {
  readonly case: string;
  readonly readable: string;
  readonly median: string;
  readonly p95: string;
  readonly ratio: string;
  readonly aim: string;
}

function rowsOf(result: BenchResult): Row[] {
  const base = result.baseline;
  const row = (c: CaseResult, withAim: boolean): Row => {
    const ratio = c.medianMs / base.medianMs;
    const p95Ratio = c.p95Ms / base.p95Ms;
    return {
      case: c.name,
      readable: c.readable ? `${count(c.readable.chunks)} (${(100 * c.readable.share).toFixed(1)}%)` : "all",
      median: fmt(c.medianMs),
      p95: fmt(c.p95Ms),
      ratio: c === base ? "1" : `${ratio.toFixed(2)} / ${p95Ratio.toFixed(2)}`,
      aim:
        c === base || !withAim
          ? ""
          : `≤ ${AIM_RATIO}x: ${ratio <= AIM_RATIO && p95Ratio <= AIM_RATIO ? "met" : ratio <= AIM_RATIO ? "median met, p95 NOT" : "NOT met"}`,
    };
  };
  return [
    row(base, false),
    ...result.warm.map((c) => row(c, true)),
    ...result.afterWrite.map((c) => row(c, true)),
  ];
}

const HEADER: Row = {
  case: "case",
  readable: "readable chunks",
  median: "median ms",
  p95: "p95 ms",
  ratio: "ratio median / p95",
  aim: "aim",
};

function textTable(rows: readonly Row[]): string {
  const keys = Object.keys(HEADER) as (keyof Row)[];
  const all = [HEADER, ...rows];
  const width = (key: keyof Row): number => Math.max(...all.map((r) => r[key].length));
  const line = (r: Row): string =>
    keys
      .map((key) => r[key].padEnd(width(key)))
      .join("  ")
      .trimEnd();
  return [line(HEADER), "-".repeat(line(HEADER).length + 8), ...rows.map(line)].join("\n");
}

function markdownTable(rows: readonly Row[]): string {
  const keys = Object.keys(HEADER) as (keyof Row)[];
  const cells = (r: Row): string =>
    `| ${keys.map((key) => r[key].replaceAll("|", "\\|") || "—").join(" | ")} |`;
  return [cells(HEADER), `|${keys.map(() => "---").join("|")}|`, ...rows.map(cells)].join("\n");
}

function describeCorpus(bench: Bench): string {
  const { corpus } = bench;
  const sections = corpus.documents.filter((d) => d.section !== undefined).length;
  const customerDocs = corpus.documents.filter((d) => d.customer !== undefined).length;
  return (
    `${count(corpus.documents.length)} documents × ${corpus.shape.chunksPerDocument} chunks = ${count(corpus.chunks.length)} chunks; ` +
    `${count(sections)} documents have a section narrower than the document (their last ${SECTION_CHUNKS} chunks, ` +
    `${count(sections * SECTION_CHUNKS)} chunks) readable only by an audience team; ${count(customerDocs)} customer documents; ` +
    `${count(corpus.collections.length)} collections (${corpus.roots} roots, depth ≤ ${corpus.shape.maxCollectionDepth}), ` +
    `${count(corpus.teamMembers.size)} teams (some nested), ${count(corpus.users.length)} users, ` +
    `${count(corpus.customers.size)} customers, ${count(bench.setup.tuples)} relationships (schema fixtures/schema.perm); ` +
    `vectors: hashing embedder (${bench.embedder.model}) over synthetic banking text, one topic per collection`
  );
}

// ---------------------------------------------------------------------------------------------------------

const USAGE = "usage: npm run bench:e2e -- [--quick] [--seed N]";

function parseOptions(argv: readonly string[]): { quick: boolean; seed: number } {
  let values: { quick?: boolean; seed?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
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
  const seed = values.seed === undefined ? FULL_CORPUS.seed : Number(values.seed);
  if (!Number.isInteger(seed)) {
    console.error(`--seed must be an integer\n${USAGE}`);
    process.exit(2);
  }
  return { quick: values.quick ?? false, seed };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const shape = { ...(options.quick ? QUICK_CORPUS : FULL_CORPUS), seed: options.seed };
  const generated = performance.now();
  const corpus = generateCorpus(shape);
  console.log(`corpus (seed ${shape.seed}) generated in ${fmt(performance.now() - generated)} ms`);
  const bench = await setUpBench(corpus);
  console.log(
    `loaded ${count(bench.setup.tuples)} relationships in ${fmt(bench.setup.loadMs)} ms; embedded ${count(corpus.chunks.length)} chunks ` +
      `in ${fmt(bench.setup.embedMs)} ms; stored them in ${fmt(bench.setup.ingestMs)} ms`,
  );
  const rounds = options.quick ? 30 : 100;
  const warmupRounds = options.quick ? 5 : 10;
  let result: BenchResult;
  try {
    result = await runBench(bench, { rounds, warmupRounds, seed: shape.seed + 1 });
  } finally {
    await bench.authorizer.close();
    await bench.vectorStore.close();
  }
  const rows = rowsOf(result);
  const date = new Date().toISOString();
  const title = `End-to-end search benchmark${options.quick ? " (quick corpus)" : ""}`;
  console.log(`\n${title}\n${machine()}\n${date}\n\n${textTable(rows)}\n`);

  const markdown = [
    `# ${title}`,
    "",
    `- date: ${date}`,
    `- machine: ${machine()}`,
    `- corpus: ${describeCorpus(bench)}`,
    "- adapters: embedded authorizer (memory), embedded vector store (memory, exact cosine scan), hashing embedder; " +
      "the real app (`composeApp`) with ES256 token verification, a memory audit log and a silent pino logger",
    `- requests: \`POST /v1/search\` through \`app.request\`, k = ${K}, ${corpus.queries.length} varied queries in turn; ` +
      `${warmupRounds} warm-up rounds, then ${rounds} rounds, each case once per round in a shuffled order`,
    `- command: \`npm run bench:e2e${options.quick ? " -- --quick" : ""}\``,
    "",
    markdownTable(rows),
    "",
    "The baseline is the same app on the same adapters with `retrieve` replaced by one that embeds the query and",
    "searches every chunk (no `resources`): the rest of the request (token, validation, audit, response) is the same.",
    "Ratios are the case's median and p95 over the baseline's. Rows \"after a write\" are requests sent right after",
    "an unrelated write to the authorizer, so the readable resources are listed afresh instead of coming from the",
    "lists the authorizer keeps for unchanged data. Every passage returned was checked against the generator's",
    "reference of who may read what. Aims are reported, not enforced.",
    "",
  ].join("\n");
  await writeResults(options.quick ? "e2e-quick.md" : "e2e.md", markdown);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
