/**
 * Random authorization cases for property tests of an `Authorizer`.
 *
 * A case is plain data: a Permify schema text, relationships in Permify's tuple notation and the checks
 * with the answers a small reference model computed for them. Keeping cases serializable means the same
 * generators can later drive a differential test against a real Permify server (`caseToValidationYaml`
 * writes the shape `permify validate` reads), and a failing case can be pasted into a bug report as is.
 *
 * The reference models here are deliberately naive (truth tables, graph reachability) so that they do not
 * share a mistake with the evaluator they judge.
 */
import fc from "fast-check";
import { stringify } from "yaml";

// ---------------------------------------------------------------------------------------------------------
// Expressions of the Permify schema language (the subset the properties need)

export type BinaryOperator = "or" | "and" | "not";

export type Expr =
  | { readonly kind: "ref"; readonly name: string }
  | { readonly kind: "op"; readonly op: BinaryOperator; readonly left: Expr; readonly right: Expr };

export const ref = (name: string): Expr => ({ kind: "ref", name });
export const union = (left: Expr, right: Expr): Expr => ({ kind: "op", op: "or", left, right });
export const intersection = (left: Expr, right: Expr): Expr => ({ kind: "op", op: "and", left, right });
/** `left not right`: Permify's exclusion, left ∧ ¬right (there is no prefix `not`). */
export const exclusion = (left: Expr, right: Expr): Expr => ({ kind: "op", op: "not", left, right });

/** Every operation parenthesised except the outermost: the form that needs no precedence rules. */
export function printFull(expr: Expr): string {
  if (expr.kind === "ref") return expr.name;
  const side = (e: Expr): string => (e.kind === "ref" ? e.name : `(${printFull(e)})`);
  return `${side(expr.left)} ${expr.op} ${side(expr.right)}`;
}

/**
 * The fewest parentheses under Permify's grammar: `and`, `or` and `not` share one precedence and group
 * left to right, so a left operand never needs parentheses and a right operand that is an operation always does.
 */
export function printMinimal(expr: Expr): string {
  if (expr.kind === "ref") return expr.name;
  const right = expr.right.kind === "ref" ? expr.right.name : `(${printMinimal(expr.right)})`;
  return `${printMinimal(expr.left)} ${expr.op} ${right}`;
}

export function evaluate(expr: Expr, leaf: (name: string) => boolean): boolean {
  if (expr.kind === "ref") return leaf(expr.name);
  const left = evaluate(expr.left, leaf);
  const right = evaluate(expr.right, leaf);
  switch (expr.op) {
    case "or":
      return left || right;
    case "and":
      return left && right;
    case "not":
      return left && !right;
  }
}

/** `a op b op c …` folded left to right, i.e. `((a op b) op c) …`. */
export function leftDeep(leaves: readonly Expr[], ops: readonly BinaryOperator[]): Expr {
  const [first, ...rest] = leaves;
  if (first === undefined || rest.length !== ops.length)
    throw new Error("leftDeep: need one more leaf than operators");
  return rest.reduce<Expr>(
    (acc, leaf, i) => ({ kind: "op", op: ops[i] as BinaryOperator, left: acc, right: leaf }),
    first,
  );
}

/** `a op (b op (c …))`: the same sequence grouped right to left. */
export function rightDeep(leaves: readonly Expr[], ops: readonly BinaryOperator[]): Expr {
  const last = leaves[leaves.length - 1];
  if (last === undefined || leaves.length !== ops.length + 1)
    throw new Error("rightDeep: need one more leaf than operators");
  let acc = last;
  for (let i = ops.length - 1; i >= 0; i--) {
    acc = { kind: "op", op: ops[i] as BinaryOperator, left: leaves[i] as Expr, right: acc };
  }
  return acc;
}

export const operatorArb: fc.Arbitrary<BinaryOperator> = fc.constantFrom("or", "and", "not");

/** A random expression over `leaves`, at most `depth` operators deep. */
export function exprArb(leaves: readonly string[], depth: number): fc.Arbitrary<Expr> {
  const leaf = fc.constantFrom(...leaves).map(ref);
  if (depth <= 0) return leaf;
  const inner = exprArb(leaves, depth - 1);
  return fc.oneof(
    { arbitrary: leaf, weight: 1 },
    {
      arbitrary: fc
        .tuple(operatorArb, inner, inner)
        .map(([op, left, right]): Expr => ({ kind: "op", op, left, right })),
      weight: 2,
    },
  );
}

/** Schema names allow letters and `_` only, so indices become letters: 0 → a, 25 → z, 26 → aa. */
export function letters(index: number): string {
  let n = index;
  let out = "";
  do {
    out = String.fromCharCode(97 + (n % 26)) + out;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Cases

/** `true`/`false` exactly, or "not-allowed": false or a DEPTH_EXCEEDED error (cyclic data, no allowing path). */
export type Expected = boolean | "not-allowed";

export interface ExpectedCheck {
  /** `type:id` */
  readonly entity: string;
  readonly permission: string;
  /** `type:id` or `type:id#relation` */
  readonly subject: string;
  readonly expected: Expected;
}

export interface AuthzCase {
  readonly kind: string;
  readonly schema: string;
  /** Permify notation, `entity:id#relation@subject:id[#relation]`. */
  readonly tuples: readonly string[];
  readonly checks: readonly ExpectedCheck[];
}

export function checkToText(check: Omit<ExpectedCheck, "expected">): string {
  return `${check.entity}#${check.permission}@${check.subject}`;
}

/** A readable dump: what fast-check prints for a counterexample and what goes into a bug report. */
export function caseToText(c: AuthzCase): string {
  return [
    `# case: ${c.kind}`,
    "schema:",
    c.schema.trimEnd(),
    `tuples (${c.tuples.length}):`,
    ...c.tuples.map((t) => `  ${t}`),
    `checks (${c.checks.length}):`,
    ...c.checks.map((q) => `  ${checkToText(q)} => ${String(q.expected)}`),
  ].join("\n");
}

/** Makes fast-check print the case as `caseToText` does instead of as a nested object. */
export function printable<T extends AuthzCase>(c: T): T {
  return Object.defineProperty({ ...c }, fc.toStringMethod, {
    value: () => caseToText(c),
    enumerable: false,
  });
}

export interface ExpectedLookup {
  readonly entityType: string;
  readonly permission: string;
  readonly subject: string;
  /** Ascending in Go's byte order, which equals JavaScript's default sort for ASCII ids. */
  readonly ids: readonly string[];
}

export interface ExpectedSubjectLookup {
  readonly entity: string;
  readonly permission: string;
  readonly subjectType: string;
  readonly ids: readonly string[];
}

const splitRef = (text: string): { type: string; id: string } => {
  const colon = text.indexOf(":");
  return { type: text.slice(0, colon), id: text.slice(colon + 1) };
};

/**
 * The lookups implied by the checks: for each (entity type, permission, subject), the ids whose check is
 * allowed. Generators check every entity that appears in their data, so these lists are complete. Groups
 * with an inexact expectation ("not-allowed") are left out.
 */
export function expectedLookups(c: AuthzCase): ExpectedLookup[] {
  const groups = new Map<
    string,
    { entityType: string; permission: string; subject: string; ids: string[]; exact: boolean }
  >();
  for (const check of c.checks) {
    const { type, id } = splitRef(check.entity);
    const key = `${type}#${check.permission}@${check.subject}`;
    let group = groups.get(key);
    if (!group) {
      group = {
        entityType: type,
        permission: check.permission,
        subject: check.subject,
        ids: [],
        exact: true,
      };
      groups.set(key, group);
    }
    if (typeof check.expected !== "boolean") group.exact = false;
    else if (check.expected) group.ids.push(id);
  }
  return [...groups.values()]
    .filter((g) => g.exact)
    .map(({ entityType, permission, subject, ids }) => ({
      entityType,
      permission,
      subject,
      ids: [...ids].sort(),
    }));
}

/** The subject lookups implied by the checks whose subjects are plain entities (no userset subjects). */
export function expectedSubjectLookups(c: AuthzCase): ExpectedSubjectLookup[] {
  const groups = new Map<
    string,
    { entity: string; permission: string; subjectType: string; ids: string[]; exact: boolean }
  >();
  for (const check of c.checks) {
    if (check.subject.includes("#")) continue;
    const { type, id } = splitRef(check.subject);
    const key = `${check.entity}#${check.permission}@${type}`;
    let group = groups.get(key);
    if (!group) {
      group = { entity: check.entity, permission: check.permission, subjectType: type, ids: [], exact: true };
      groups.set(key, group);
    }
    if (typeof check.expected !== "boolean") group.exact = false;
    else if (check.expected) group.ids.push(id);
  }
  return [...groups.values()]
    .filter((g) => g.exact)
    .map(({ entity, permission, subjectType, ids }) => ({
      entity,
      permission,
      subjectType,
      ids: [...ids].sort(),
    }));
}

/**
 * The case as a `permify validate` file (schema, relationships, one scenario with every exact check and
 * every lookup), for a differential run against Permify itself.
 */
export function caseToValidationYaml(c: AuthzCase): string {
  const checks = new Map<string, { entity: string; subject: string; assertions: Record<string, boolean> }>();
  for (const check of c.checks) {
    if (typeof check.expected !== "boolean") continue;
    const key = `${check.entity}@${check.subject}`;
    const entry = checks.get(key) ?? { entity: check.entity, subject: check.subject, assertions: {} };
    entry.assertions[check.permission] = check.expected;
    checks.set(key, entry);
  }
  return stringify({
    schema: c.schema,
    relationships: [...c.tuples],
    attributes: [],
    scenarios: [
      {
        name: c.kind,
        description: `generated ${c.kind} case`,
        checks: [...checks.values()],
        entity_filters: expectedLookups(c).map((l) => ({
          entity_type: l.entityType,
          subject: l.subject,
          assertions: { [l.permission]: [...l.ids] },
        })),
      },
    ],
  });
}

// ---------------------------------------------------------------------------------------------------------
// Algebra cases: one entity type whose permissions combine relations held directly by users

export interface PermissionDef {
  readonly name: string;
  readonly expr: Expr;
  /** The text written into the schema; defaults to `printMinimal(expr)`. */
  readonly text?: string;
}

export interface Grant {
  readonly doc: number;
  readonly user: number;
  readonly relation: string;
}

export interface AlgebraData {
  readonly docs: number;
  readonly users: number;
  readonly grants: readonly Grant[];
}

export const ALGEBRA_RELATIONS = ["a", "b", "c", "d"] as const;

/**
 * Random direct grants `doc:dI#rel@user:uJ`: each of `docs` × `users` × `relations` held with even odds,
 * so that every combination of leaves turns up; shrinking drops grants.
 */
export function algebraDataArb(
  options: { docs?: number; users?: number; relations?: readonly string[] } = {},
): fc.Arbitrary<AlgebraData> {
  const docs = options.docs ?? 3;
  const users = options.users ?? 3;
  const relations = options.relations ?? ALGEBRA_RELATIONS;
  const size = docs * users * relations.length;
  return fc.array(fc.boolean(), { minLength: size, maxLength: size }).map((held) => {
    const grants: Grant[] = [];
    held.forEach((isHeld, i) => {
      if (!isHeld) return;
      const relation = relations[i % relations.length] as string;
      const pair = Math.floor(i / relations.length);
      grants.push({ doc: Math.floor(pair / users), user: pair % users, relation });
    });
    return { docs, users, grants };
  });
}

/**
 * Random permissions: each one an expression over the relations and the permissions defined before it
 * (so permissions may reference permissions, never in a cycle), written into the schema twice, with
 * minimal parentheses (`m_x`) and fully parenthesised (`f_x`).
 */
export function randomPermissionsArb(
  options: { count?: number; depth?: number; relations?: readonly string[] } = {},
): fc.Arbitrary<PermissionDef[]> {
  const count = options.count ?? 4;
  const depth = options.depth ?? 3;
  const relations = options.relations ?? ALGEBRA_RELATIONS;
  const arbs = Array.from({ length: count }, (_, k) =>
    exprArb([...relations, ...Array.from({ length: k }, (_, j) => `m_${letters(j)}`)], depth),
  );
  return fc.tuple(...arbs).map((exprs) =>
    exprs.flatMap((expr, k) => [
      { name: `m_${letters(k)}`, expr, text: printMinimal(expr) },
      { name: `f_${letters(k)}`, expr, text: printFull(expr) },
    ]),
  );
}

export function algebraCase(
  kind: string,
  permissions: readonly PermissionDef[],
  data: AlgebraData,
  relations: readonly string[] = ALGEBRA_RELATIONS,
): AuthzCase {
  const schema = [
    "entity user {}",
    "",
    "entity doc {",
    ...relations.map((r) => `  relation ${r} @user`),
    ...permissions.map((p) => `  permission ${p.name} = ${p.text ?? printMinimal(p.expr)}`),
    "}",
    "",
  ].join("\n");
  const tuples = data.grants.map((g) => `doc:d${g.doc}#${g.relation}@user:u${g.user}`);
  const held = new Set(data.grants.map((g) => `${g.doc}/${g.user}/${g.relation}`));
  const byName = new Map(permissions.map((p) => [p.name, p]));
  const checks: ExpectedCheck[] = [];
  for (let doc = 0; doc < data.docs; doc++) {
    for (let user = 0; user < data.users; user++) {
      const leaf = (name: string): boolean => {
        const permission = byName.get(name);
        return permission ? evaluate(permission.expr, leaf) : held.has(`${doc}/${user}/${name}`);
      };
      for (const p of permissions) {
        checks.push({
          entity: `doc:d${doc}`,
          permission: p.name,
          subject: `user:u${user}`,
          expected: leaf(p.name),
        });
      }
    }
  }
  return printable({ kind, schema, tuples, checks });
}

// ---------------------------------------------------------------------------------------------------------
// Folder forests: `permission view = viewer or parent.view`

export const FOLDER_SCHEMA = `entity user {}

entity folder {
  relation parent @folder
  relation viewer @user
  permission view = viewer or parent.view
}
`;

/**
 * Folders `f0…f{n-1}` whose parents have lower indices (so the graph is acyclic: a forest when
 * `maxParents` is 1, a DAG above), with random viewer grants; every (folder, user) is checked for `view`
 * against plain reachability, and for the `viewer` relation itself.
 */
export function folderCaseArb(
  options: { folders?: number; users?: number; maxParents?: number } = {},
): fc.Arbitrary<AuthzCase> {
  const folders = options.folders ?? 12;
  const users = options.users ?? 3;
  const maxParents = options.maxParents ?? 1;
  const parents = fc.tuple(
    ...Array.from({ length: folders }, (_, i) =>
      i === 0 ? fc.constant<number[]>([]) : fc.uniqueArray(fc.nat(i - 1), { maxLength: maxParents }),
    ),
  );
  const viewers = fc.uniqueArray(fc.tuple(fc.nat(folders - 1), fc.nat(users - 1)), {
    selector: ([f, u]) => `${f}/${u}`,
    maxLength: folders * users,
  });
  return fc.tuple(parents, viewers).map(([parentLists, viewerPairs]) => {
    const tuples: string[] = [];
    parentLists.forEach((ps, child) => {
      for (const p of ps) tuples.push(`folder:f${child}#parent@folder:f${p}`);
    });
    for (const [f, u] of viewerPairs) tuples.push(`folder:f${f}#viewer@user:u${u}`);
    const direct = new Set(viewerPairs.map(([f, u]) => `${f}/${u}`));
    const checks: ExpectedCheck[] = [];
    for (let u = 0; u < users; u++) {
      const memo = new Map<number, boolean>();
      const view = (f: number): boolean => {
        const known = memo.get(f);
        if (known !== undefined) return known;
        const result = direct.has(`${f}/${u}`) || (parentLists[f] ?? []).some(view);
        memo.set(f, result);
        return result;
      };
      for (let f = 0; f < folders; f++) {
        checks.push({ entity: `folder:f${f}`, permission: "view", subject: `user:u${u}`, expected: view(f) });
        checks.push({
          entity: `folder:f${f}`,
          permission: "viewer",
          subject: `user:u${u}`,
          expected: direct.has(`${f}/${u}`),
        });
      }
    }
    return printable({
      kind: maxParents > 1 ? "folder-dag" : "folder-forest",
      schema: FOLDER_SCHEMA,
      tuples,
      checks,
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Groups nested through usersets: `relation member @user @group#member`

export const GROUP_SCHEMA = `entity user {}

entity group {
  relation member @user @group#member
}

entity doc {
  relation viewer @user @group#member
  permission view = viewer
}
`;

export interface GroupCaseOptions {
  readonly groups?: number;
  readonly users?: number;
  readonly docs?: number;
  /**
   * When false, `group:gI#member@group:gJ#member` only for I < J (acyclic). When true, any I ≠ J, plus one
   * forced ring of at least two groups so that most cases have a cycle.
   */
  readonly cyclic?: boolean;
}

/**
 * Groups, users and documents; membership nests through `group#member` usersets. Checks `member` on every
 * group and `view` on every document for every user and for every userset subject `group:gJ#member`. Where no path reaches the user but a cycle is
 * reachable, the expectation is "not-allowed" (Permify reports depth exceeded there, or an evaluator that
 * detects cycles denies); with no reachable cycle it is exactly false.
 */
export function groupCaseArb(options: GroupCaseOptions = {}): fc.Arbitrary<AuthzCase> {
  const groups = options.groups ?? 6;
  const users = options.users ?? 3;
  const docs = options.docs ?? 3;
  const cyclic = options.cyclic ?? false;
  const pair = fc
    .tuple(fc.nat(groups - 1), fc.nat(groups - 1))
    .filter(([i, j]) => i !== j)
    .map(([i, j]): [number, number] => (cyclic ? [i, j] : [Math.min(i, j), Math.max(i, j)]));
  const edges = fc.uniqueArray(pair, { selector: ([i, j]) => `${i}/${j}`, maxLength: groups * 2 });
  const ring = cyclic
    ? fc.uniqueArray(fc.nat(groups - 1), { minLength: 2, maxLength: groups })
    : fc.constant<number[]>([]);
  const memberships = fc.uniqueArray(fc.tuple(fc.nat(groups - 1), fc.nat(users - 1)), {
    selector: ([g, u]) => `${g}/${u}`,
    maxLength: groups * 2,
  });
  const subject = fc.oneof(
    fc.nat(users - 1).map((u) => ({ user: u })),
    fc.nat(groups - 1).map((g) => ({ group: g })),
  );
  const viewers = fc.uniqueArray(fc.record({ doc: fc.nat(docs - 1), subject }), {
    selector: (v) => `${v.doc}/${JSON.stringify(v.subject)}`,
    maxLength: docs * 3,
  });
  return fc.tuple(edges, ring, memberships, viewers).map(([edgeList, ringList, memberList, viewerList]) => {
    const edgeKeys = new Set(edgeList.map(([i, j]) => `${i}/${j}`));
    ringList.forEach((g, k) => {
      edgeKeys.add(`${g}/${ringList[(k + 1) % ringList.length]}`);
    });
    const allEdges = [...edgeKeys].map((k) => k.split("/").map(Number) as [number, number]);
    const tuples = [
      ...allEdges.map(([i, j]) => `group:g${i}#member@group:g${j}#member`),
      ...memberList.map(([g, u]) => `group:g${g}#member@user:u${u}`),
      ...viewerList.map((v) =>
        "user" in v.subject
          ? `doc:d${v.doc}#viewer@user:u${v.subject.user}`
          : `doc:d${v.doc}#viewer@group:g${v.subject.group}#member`,
      ),
    ];

    const out = Array.from({ length: groups }, () => [] as number[]);
    for (const [i, j] of allEdges) out[i]?.push(j);
    const reach = (starts: readonly number[]): Set<number> => {
      const seen = new Set<number>(starts);
      const stack = [...starts];
      for (let g = stack.pop(); g !== undefined; g = stack.pop()) {
        for (const next of out[g] ?? []) {
          if (!seen.has(next)) {
            seen.add(next);
            stack.push(next);
          }
        }
      }
      return seen;
    };
    const onCycle = Array.from({ length: groups }, (_, g) => reach(out[g] ?? []).has(g));
    const directMembers = new Set(memberList.map(([g, u]) => `${g}/${u}`));
    /** From the groups `starts` (and a direct grant), does a path reach `found`? Else, can a cycle be reached? */
    const expectation = (
      starts: readonly number[],
      direct: boolean,
      found: (group: number) => boolean,
    ): Expected => {
      const reached = reach(starts);
      if (direct || [...reached].some(found)) return true;
      return [...reached].some((g) => onCycle[g]) ? "not-allowed" : false;
    };
    const hasUser = (user: number) => (group: number) => directMembers.has(`${group}/${user}`);
    const isGroup = (target: number) => (group: number) => group === target;

    const checks: ExpectedCheck[] = [];
    const viewersOf = (d: number) => viewerList.filter((v) => v.doc === d);
    const groupsOf = (d: number) =>
      viewersOf(d).flatMap((v) => ("group" in v.subject ? [v.subject.group] : []));
    for (let u = 0; u < users; u++) {
      for (let g = 0; g < groups; g++) {
        const expected = expectation([g], false, hasUser(u));
        checks.push({ entity: `group:g${g}`, permission: "member", subject: `user:u${u}`, expected });
      }
      for (let d = 0; d < docs; d++) {
        const direct = viewersOf(d).some((v) => "user" in v.subject && v.subject.user === u);
        const expected = expectation(groupsOf(d), direct, hasUser(u));
        checks.push({ entity: `doc:d${d}`, permission: "view", subject: `user:u${u}`, expected });
        checks.push({ entity: `doc:d${d}`, permission: "viewer", subject: `user:u${u}`, expected });
      }
    }
    // Userset subjects: `group:gJ#member` is covered by every group from which gJ can be reached, itself included.
    for (let j = 0; j < groups; j++) {
      const subject = `group:g${j}#member`;
      for (let g = 0; g < groups; g++) {
        checks.push({
          entity: `group:g${g}`,
          permission: "member",
          subject,
          expected: expectation([g], false, isGroup(j)),
        });
      }
      for (let d = 0; d < docs; d++) {
        checks.push({
          entity: `doc:d${d}`,
          permission: "view",
          subject,
          expected: expectation(groupsOf(d), false, isGroup(j)),
        });
      }
    }
    return printable({
      kind: cyclic ? "groups-cyclic" : "groups-acyclic",
      schema: GROUP_SCHEMA,
      tuples,
      checks,
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Spellings: one expression, several texts Permify reads the same way

/**
 * How `printSpelled` writes an expression. Each list is read cyclically, one entry per decision in
 * pre-order (an empty list means "never"), so a short list of booleans describes any expression.
 */
export interface Spelling {
  /** Per operation: wrap a left operand that is itself an operation in (redundant) parentheses. */
  readonly parenthesiseLeft: readonly boolean[];
  /** Per leaf: wrap the leaf in (redundant) parentheses, as in `(a) or b`. */
  readonly parenthesiseLeaf: readonly boolean[];
  /** Per operation: continue on the next line after the operator (Permify allows a break there). */
  readonly breakAfterOperator: readonly boolean[];
}

export const MINIMAL_SPELLING: Spelling = {
  parenthesiseLeft: [],
  parenthesiseLeaf: [],
  breakAfterOperator: [],
};

/**
 * `expr` with the parentheses it needs under Permify's grammar (one precedence, left to right: a right
 * operand that is an operation is always parenthesised) plus the redundant ones and line breaks `spelling`
 * asks for. Continuation lines are indented by `indent`.
 */
export function printSpelled(expr: Expr, spelling: Spelling, indent = "    "): string {
  let operation = 0;
  let leafIndex = 0;
  const pick = (list: readonly boolean[], index: number): boolean =>
    list.length > 0 && (list[index % list.length] as boolean);
  const print = (e: Expr): string => {
    if (e.kind === "ref") {
      const wrap = pick(spelling.parenthesiseLeaf, leafIndex++);
      return wrap ? `(${e.name})` : e.name;
    }
    const index = operation++;
    const leftText = print(e.left);
    const left = e.left.kind === "op" && pick(spelling.parenthesiseLeft, index) ? `(${leftText})` : leftText;
    const rightText = print(e.right);
    const right = e.right.kind === "op" ? `(${rightText})` : rightText;
    const gap = pick(spelling.breakAfterOperator, index) ? `\n${indent}` : " ";
    return `${left} ${e.op}${gap}${right}`;
  };
  return print(expr);
}

/** Spellings from minimal to heavily parenthesised, with occasional line breaks after operators. */
export const spellingArb: fc.Arbitrary<Spelling> = fc.oneof(
  fc.constant(MINIMAL_SPELLING),
  fc.constant<Spelling>({ parenthesiseLeft: [true], parenthesiseLeaf: [], breakAfterOperator: [] }),
  fc.record({
    parenthesiseLeft: fc.array(fc.boolean(), { maxLength: 4 }),
    parenthesiseLeaf: fc.array(
      fc.nat(3).map((n) => n === 0),
      { maxLength: 4 },
    ),
    breakAfterOperator: fc.array(fc.boolean(), { maxLength: 3 }),
  }),
);
