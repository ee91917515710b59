/**
 * The retrieval benchmark's bank: 10,000 documents of 10 chunks (100,000 chunks) in 1,000 collections of
 * 10, a fifth of them belonging to one of 200 customers, a tenth with a legal-only section (their last two
 * chunks). One reader per share (0.1%, 1%, 10%, 50%, 100% of the documents) reads most of their share
 * through collections (a team granted on them), the rest through customers they hold and documents granted
 * to them directly, as a bank's staff and customers do. Who may read what comes from the relationships
 * through the benchmarks' reference (bank-reference.ts), independently of any authorizer: the benchmark's
 * oracle uses it, and checks the authorizer agrees.
 */
import { parseTuple } from "../src/core/permify-notation.ts";
import type { Principal } from "../src/core/principal.ts";
import { seededRandom, shuffle } from "./authz-graph.ts";
import { bankReference } from "./bank-reference.ts";

export interface RetrievalCorpusShape {
  readonly documents: number;
  readonly chunksPerDocument: number;
  readonly documentsPerCollection: number;
  readonly customers: number;
  readonly documentsPerCustomer: number;
  readonly sectionShare: number;
  readonly shares: readonly number[];
  readonly queries: number;
  readonly seed: number;
}

export const FULL_RETRIEVAL_CORPUS: RetrievalCorpusShape = {
  documents: 10_000,
  chunksPerDocument: 10,
  documentsPerCollection: 10,
  customers: 200,
  documentsPerCustomer: 10,
  sectionShare: 0.1,
  shares: [0.001, 0.01, 0.1, 0.5, 1],
  queries: 40,
  seed: 7,
};

export const QUICK_RETRIEVAL_CORPUS: RetrievalCorpusShape = {
  ...FULL_RETRIEVAL_CORPUS,
  documents: 1_000,
  customers: 20,
  queries: 12,
};

export interface BenchDocument {
  readonly id: string;
  readonly collection: string;
  readonly customer?: string;
  readonly owner: string;
  readonly topic: number;
  /** The section holding the last two chunks, readable by the legal team only. */
  readonly section?: string;
}

export interface Reader {
  readonly share: number;
  readonly principal: Principal;
  /** Every resource the principal may view: the oracle's ground truth. */
  readonly readable: ReadonlySet<string>;
}

export interface RetrievalCorpus {
  readonly shape: RetrievalCorpusShape;
  readonly documents: readonly BenchDocument[];
  readonly tuples: readonly ReturnType<typeof parseTuple>[];
  readonly readers: readonly Reader[];
  readonly topics: number;
}

const TOPIC_COUNT = 12;

export function generateRetrievalCorpus(shape: RetrievalCorpusShape): RetrievalCorpus {
  const random = seededRandom(shape.seed);
  const collections = Math.ceil(shape.documents / shape.documentsPerCollection);
  const order = shuffle(
    Array.from({ length: shape.documents }, (_, i) => i),
    random,
  );
  const customerOf = new Map<number, string>();
  for (let c = 0; c < shape.customers; c++) {
    for (let d = 0; d < shape.documentsPerCustomer; d++) {
      const index = order[c * shape.documentsPerCustomer + d];
      if (index !== undefined) customerOf.set(index, `cust-${c}`);
    }
  }
  const documents: BenchDocument[] = [];
  const membersOf = new Map<string, number[]>();
  for (let i = 0; i < shape.documents; i++) {
    const collection = `col-${Math.floor(i / shape.documentsPerCollection)}`;
    const customer = customerOf.get(i);
    const section = random() < shape.sectionShare ? `sec-${i}` : undefined;
    documents.push({
      id: `doc-${i}`,
      collection,
      ...(customer === undefined ? {} : { customer }),
      owner: `user:owner-${i % 50}`,
      topic: Math.floor(i / shape.documentsPerCollection) % TOPIC_COUNT,
      ...(section === undefined ? {} : { section }),
    });
    membersOf.set(collection, [...(membersOf.get(collection) ?? []), i]);
  }

  const tuples: string[] = ["team:legal#member@user:counsel"];
  for (const document of documents) {
    tuples.push(`document:${document.id}#collection@collection:${document.collection}`);
    tuples.push(`document:${document.id}#owner@${document.owner}`);
    if (document.customer !== undefined) {
      tuples.push(`document:${document.id}#customer@customer:${document.customer}`);
    }
    if (document.section !== undefined) {
      tuples.push(`section:${document.section}#document@document:${document.id}`);
      tuples.push(`section:${document.section}#audience@team:legal#member`);
    }
  }

  const principals: { share: number; principal: Principal }[] = [];
  for (const share of shape.shares) {
    const user = `reader-${String(share * 100).replace(".", "_")}pct`;
    const target = Math.max(1, Math.round(share * shape.documents));
    const readableDocuments = new Set<number>();
    // Most of the share through collections, granted to a team the reader is in.
    const viaCollections = Math.min(
      collections,
      Math.max(1, Math.round((0.8 * target) / shape.documentsPerCollection)),
    );
    const team = `team-${user}`;
    tuples.push(`team:${team}#member@user:${user}`);
    for (const c of shuffle(
      Array.from({ length: collections }, (_, i) => i),
      random,
    ).slice(0, viaCollections)) {
      tuples.push(`collection:col-${c}#viewer@team:${team}#member`);
      for (const index of membersOf.get(`col-${c}`) ?? []) readableDocuments.add(index);
    }
    // Then customers the reader holds, then single documents, until the share is reached.
    for (
      let c = 0;
      c < shape.customers && readableDocuments.size + shape.documentsPerCustomer <= target;
      c++
    ) {
      const customer = `cust-${c}`;
      const members = documents.flatMap((d, i) => (d.customer === customer ? [i] : []));
      if (members.some((i) => readableDocuments.has(i)) || random() < 0.5) continue;
      tuples.push(`customer:${customer}#holder@user:${user}`);
      for (const index of members) readableDocuments.add(index);
    }
    for (const index of order) {
      if (readableDocuments.size >= target) break;
      if (readableDocuments.has(index)) continue;
      tuples.push(`document:doc-${index}#viewer@user:${user}`);
      readableDocuments.add(index);
    }
    principals.push({ share, principal: { userId: user, agentIds: [] } });
  }
  const parsed = tuples.map(parseTuple);
  const reference = bankReference(parsed);
  const readers = principals.map(
    (reader): Reader => ({ ...reader, readable: reference.readable(reader.principal) }),
  );
  return { shape, documents, tuples: parsed, readers, topics: TOPIC_COUNT };
}
