/**
 * The end-to-end benchmark's bank: 5,000 documents of 20 chunks (100,000 chunks; the quick corpus: 500
 * documents, 10,000 chunks) under the bank schema (fixtures/schema.perm): a forest of collections with
 * owners, team, user and agent viewers; teams, some nested; customer documents; and one document in ten
 * with a section narrower than the document (its last five chunks, readable only by an audience team).
 * Chunk text is drawn from banking topic vocabularies (one topic per collection), so that queries rank
 * chunks by shared words. The probes are principals built to read about 1%, 10% and 100% of it, and an
 * agent for the 100% one granted about 10%. Who may read what comes from the relationships
 * (`corpusTuples`) through the benchmarks' reference (bank-reference.ts), never from an authorizer.
 */
import type { Tuple } from "../src/core/authz-model.ts";
import type { Principal } from "../src/core/principal.ts";
import { idOf, seededRandom, shuffle } from "./authz-graph.ts";

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
export const SECTION_CHUNKS = 5;
const AUDIENCE_TEAMS = ["legal", "risk", "audit", "compliance"] as const;

export interface CollectionData {
  readonly id: string;
  readonly parent?: string;
  readonly topic: number;
  readonly owner: string;
  readonly viewerUsers: string[];
  readonly viewerTeams: string[];
  readonly viewerAgents: string[];
}

export interface DocumentData {
  readonly id: string;
  readonly collection: string;
  readonly owner: string;
  readonly viewerUsers: readonly string[];
  readonly viewerTeams: readonly string[];
  readonly customer?: string;
  readonly section?: { readonly id: string; readonly audienceTeam: string };
}

export interface ChunkData {
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
