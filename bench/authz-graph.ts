/**
 * A deterministic bank-like authorization graph for the authorizer benchmark: collections in a shallow
 * forest, documents spread evenly over them, teams and users with random grants, and three probe users
 * built to see about 1%, 10% and 100% of the documents.
 *
 * The graph is plain data, and who may view what follows from its relationships (`graphTuples`) through
 * the benchmarks' reference (bank-reference.ts), so the generator can be tested without any authorizer and
 * the benchmark can report the probes' true shares.
 */
import type { Tuple } from "../src/core/authz-model.ts";

export const BANK_SCHEMA = `entity user {}

entity team {
  relation member @user
}

entity collection {
  relation owner @user
  relation viewer @user @team#member
  relation parent @collection
  permission view = owner or viewer or parent.view
}

entity document {
  relation owner @user
  relation collection @collection
  relation viewer @user @team#member
  permission view = owner or viewer or collection.view
}
`;

export interface BankGraphOptions {
  readonly seed?: number;
  readonly documents?: number;
  readonly collections?: number;
  readonly teams?: number;
  readonly users?: number;
  /** Collections without a parent; defaults to one in twenty. */
  readonly roots?: number;
  /** Longest parent chain below a root (a root has depth 0). */
  readonly maxCollectionDepth?: number;
}

export const FULL_GRAPH: Required<Omit<BankGraphOptions, "roots">> = {
  seed: 20_240_601,
  documents: 10_000,
  collections: 200,
  teams: 50,
  users: 5_000,
  maxCollectionDepth: 4,
};

export const QUICK_GRAPH: Required<Omit<BankGraphOptions, "roots">> = {
  seed: 20_240_601,
  documents: 1_000,
  collections: 40,
  teams: 10,
  users: 500,
  maxCollectionDepth: 3,
};

export interface Collection {
  readonly id: string;
  readonly parent?: string;
  readonly owner: string;
  readonly viewerUsers: readonly string[];
  readonly viewerTeams: readonly string[];
}

export interface Document {
  readonly id: string;
  readonly collection: string;
  readonly owner: string;
  readonly viewerUsers: readonly string[];
  readonly viewerTeams: readonly string[];
}

export interface ProbeUser {
  /** "1%", "10%" or "100%": the share the probe was built for. */
  readonly label: string;
  readonly target: number;
  readonly user: string;
  /** A team of its own, holding only this user, granted `viewer` on `grantedCollections`. */
  readonly team: string;
  readonly grantedCollections: readonly string[];
}

export interface BankGraph {
  readonly schema: string;
  readonly users: readonly string[];
  readonly teams: readonly string[];
  /** Team id to member user ids. */
  readonly teamMembers: ReadonlyMap<string, readonly string[]>;
  readonly collections: readonly Collection[];
  readonly documents: readonly Document[];
  readonly probes: readonly ProbeUser[];
}

/** mulberry32: small, fast and good enough to make benchmark data; the same seed gives the same graph. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Zero-padded so that ids sort (as Permify sorts them, bytewise) in creation order. */
export const idOf = (prefix: string, index: number, count: number): string =>
  `${prefix}${String(index).padStart(String(count - 1).length, "0")}`;

const PROBES = [
  { label: "1%", target: 0.01 },
  { label: "10%", target: 0.1 },
  { label: "100%", target: 1 },
] as const;

export function generateBankGraph(options: BankGraphOptions = {}): BankGraph {
  const {
    seed,
    documents: documentCount,
    collections: collectionCount,
    teams: teamCount,
    users: userCount,
  } = {
    ...FULL_GRAPH,
    ...options,
  };
  const maxDepth = options.maxCollectionDepth ?? FULL_GRAPH.maxCollectionDepth;
  const rootCount = options.roots ?? Math.max(1, Math.round(collectionCount / 20));
  if (teamCount <= PROBES.length || userCount <= PROBES.length)
    throw new Error("need more teams and users than probes");
  if (rootCount > collectionCount) throw new Error("more roots than collections");

  const random = seededRandom(seed);
  const below = (n: number): number => Math.floor(random() * n);
  const chance = (p: number): boolean => random() < p;

  const users = Array.from({ length: userCount }, (_, i) => idOf("u", i, userCount));
  const teams = Array.from({ length: teamCount }, (_, i) => idOf("t", i, teamCount));
  // The first users and teams belong to the probes; random grants never touch them, so a probe's share is
  // exactly what its own team was granted.
  const ordinaryUser = (): string => users[PROBES.length + below(userCount - PROBES.length)] as string;
  const ordinaryTeam = (): string => teams[PROBES.length + below(teamCount - PROBES.length)] as string;
  const distinct = (count: number, pick: () => string): string[] => {
    const picked = new Set<string>();
    while (picked.size < count) picked.add(pick());
    return [...picked];
  };

  const teamMembers = new Map<string, string[]>(teams.map((t) => [t, []]));
  users.forEach((user, i) => {
    if (i < PROBES.length) {
      teamMembers.get(teams[i] as string)?.push(user);
      return;
    }
    const memberships = below(3); // 0, 1 or 2 teams
    for (const team of distinct(Math.min(memberships, teamCount - PROBES.length), ordinaryTeam)) {
      teamMembers.get(team)?.push(user);
    }
  });

  const collectionIds = Array.from({ length: collectionCount }, (_, i) => idOf("c", i, collectionCount));
  const depth: number[] = [];
  const parents: (string | undefined)[] = [];
  for (let i = 0; i < collectionCount; i++) {
    if (i < rootCount) {
      depth.push(0);
      parents.push(undefined);
      continue;
    }
    const eligible = collectionIds.slice(0, i).filter((_, j) => (depth[j] as number) < maxDepth);
    const parentIndex = collectionIds.indexOf(eligible[below(eligible.length)] as string);
    depth.push((depth[parentIndex] as number) + 1);
    parents.push(collectionIds[parentIndex]);
  }
  const viewerTeamsOf = new Map<string, string[]>();
  const collections: Collection[] = collectionIds.map((id, i) => {
    const viewerTeams = chance(0.5) ? [ordinaryTeam()] : [];
    viewerTeamsOf.set(id, viewerTeams);
    return {
      id,
      ...(parents[i] === undefined ? {} : { parent: parents[i] }),
      owner: ordinaryUser(),
      viewerUsers: chance(0.3) ? distinct(1 + below(2), ordinaryUser) : [],
      viewerTeams,
    };
  });

  const documents: Document[] = Array.from({ length: documentCount }, (_, i) => ({
    id: idOf("d", i, documentCount),
    collection: collectionIds[i % collectionCount] as string,
    owner: ordinaryUser(),
    viewerUsers: distinct(below(3), ordinaryUser),
    viewerTeams: chance(0.05) ? [ordinaryTeam()] : [],
  }));

  // Probes: leaf collections for the partial shares (a leaf's documents are exactly its own), the roots
  // for the full one.
  const docsIn = new Map<string, number>();
  for (const doc of documents) docsIn.set(doc.collection, (docsIn.get(doc.collection) ?? 0) + 1);
  const hasChild = new Set(parents.filter((p): p is string => p !== undefined));
  const leaves = collectionIds.filter((id) => !hasChild.has(id));
  const shuffledLeaves = shuffle(leaves, random);
  const probes: ProbeUser[] = PROBES.map((probe, i) => {
    let granted: string[];
    if (probe.target >= 1) {
      granted = collectionIds.slice(0, rootCount);
    } else {
      granted = [];
      let seen = 0;
      while (seen < probe.target * documentCount) {
        const leaf = shuffledLeaves.pop();
        if (leaf === undefined) throw new Error(`not enough leaf collections for the ${probe.label} probe`);
        granted.push(leaf);
        seen += docsIn.get(leaf) ?? 0;
      }
    }
    const team = teams[i] as string;
    for (const id of granted) viewerTeamsOf.get(id)?.push(team);
    return {
      label: probe.label,
      target: probe.target,
      user: users[i] as string,
      team,
      grantedCollections: granted.sort(),
    };
  });

  return { schema: BANK_SCHEMA, users, teams, teamMembers, collections, documents, probes };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** The relationships of the graph, in a fixed order. */
export function graphTuples(graph: BankGraph): Tuple[] {
  const tuples: Tuple[] = [];
  const add = (type: string, id: string, relation: string, subject: Tuple["subject"]): void => {
    tuples.push({ entity: { type, id }, relation, subject });
  };
  for (const [team, members] of graph.teamMembers) {
    for (const user of members) add("team", team, "member", { type: "user", id: user });
  }
  for (const c of graph.collections) {
    add("collection", c.id, "owner", { type: "user", id: c.owner });
    if (c.parent !== undefined) add("collection", c.id, "parent", { type: "collection", id: c.parent });
    for (const user of c.viewerUsers) add("collection", c.id, "viewer", { type: "user", id: user });
    for (const team of c.viewerTeams)
      add("collection", c.id, "viewer", { type: "team", id: team, relation: "member" });
  }
  for (const d of graph.documents) {
    add("document", d.id, "owner", { type: "user", id: d.owner });
    add("document", d.id, "collection", { type: "collection", id: d.collection });
    for (const user of d.viewerUsers) add("document", d.id, "viewer", { type: "user", id: user });
    for (const team of d.viewerTeams)
      add("document", d.id, "viewer", { type: "team", id: team, relation: "member" });
  }
  return tuples;
}
