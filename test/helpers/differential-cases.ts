/**
 * Random cases for the differential test of the embedded evaluator against Permify
 * (test/integration/differential.test.ts).
 *
 * A case is plain data, like those of random-authz.ts: a schema in the language both sides accept, the
 * relationships and attributes in Permify's notation, and the questions to ask (checks, entity lookups,
 * subject lookups, some with contextual data), without answers: Permify is the reference. `caseToYaml`
 * writes a case as a `permify validate` / `clearance validate` file.
 *
 * What the schemas cover: entities with relations over several subject types, usersets (`@team#member`),
 * nested groups (`team member @user @team#member`), nested collections (`folder parent @folder` walked by
 * `parent.view`), walks to other types (`folder.view`, `team.member`), permissions over relations, other
 * permissions, walks, boolean attributes and rule calls, combined with `or`/`and`/`not` in every spelling
 * Permify reads the same way (one precedence, left to right), and rules over attributes and `context.data`.
 */
import fc from "fast-check";
import { stringify } from "yaml";
import { type Expr, exprArb, printSpelled, type Spelling, spellingArb } from "./random-authz.ts";

// ---------------------------------------------------------------------------------------------------------
// Schema model

export type AttributeKind = "boolean" | "integer" | "double" | "string" | "string[]";

export interface SubjectTypeSpec {
  readonly type: string;
  readonly relation?: string;
}

export interface RelationSpec {
  readonly name: string;
  readonly subjects: readonly SubjectTypeSpec[];
}

export interface AttributeSpec {
  readonly name: string;
  readonly type: AttributeKind;
}

/** Leaves are written as in the schema: `owner`, `parent.view`, `public`, `above(level)`. */
export interface PermissionSpec {
  readonly name: string;
  readonly expr: Expr;
  readonly spelling: Spelling;
}

export interface EntitySpec {
  readonly name: string;
  readonly relations: readonly RelationSpec[];
  readonly attributes: readonly AttributeSpec[];
  readonly permissions: readonly PermissionSpec[];
}

export interface RuleSpec {
  readonly name: string;
  /** Named after the attributes they read: Permify binds rule arguments by name. */
  readonly params: readonly AttributeSpec[];
  readonly body: string;
  /** `context.data` keys the body reads; a request without one of them makes the rule fail. */
  readonly contextKeys: readonly string[];
  /**
   * Whether the rule holds for an entity that has none of its attributes (they default to 0, "", false,
   * []), for every `context.data` this file generates.
   */
  readonly trueWhenMissing: boolean;
}

export interface SchemaSpec {
  readonly entities: readonly EntitySpec[];
  readonly rules: readonly RuleSpec[];
}

export function schemaText(spec: SchemaSpec): string {
  const entities = spec.entities.map((entity) => {
    const lines = [
      ...entity.relations.map(
        (r) =>
          `  relation ${r.name} ${r.subjects.map((s) => `@${s.type}${s.relation ? `#${s.relation}` : ""}`).join(" ")}`,
      ),
      ...entity.attributes.map((a) => `  attribute ${a.name} ${a.type}`),
      ...entity.permissions.map((p) => `  permission ${p.name} = ${printSpelled(p.expr, p.spelling)}`),
    ];
    return lines.length === 0
      ? `entity ${entity.name} {}`
      : [`entity ${entity.name} {`, ...lines, "}"].join("\n");
  });
  const rules = spec.rules.map(
    (rule) =>
      `rule ${rule.name}(${rule.params.map((p) => `${p.name} ${p.type}`).join(", ")}) {\n  ${rule.body}\n}`,
  );
  return `${[...entities, ...rules].join("\n\n")}\n`;
}

/**
 * Rules over the attributes `level integer`, `score double`, `tag string`, `tags string[]` and
 * `archived boolean`. `context.data` as generated here: `min` an integer or half-integer in [0, 4],
 * `tag` "a" or "b", `tags` a non-empty list of "a", "b", "c".
 *
 * String literals are single-quoted: Permify v1.7.3 drops the double quotes of a rule body's string
 * literals (`tag == "b"` compiles as `tag == b`, an undeclared reference; `tag == "tag"` as `tag == tag`,
 * always true), see `QUOTED_RULE` and the test's KNOWN_DIVERGENCES "rule-double-quoted-string".
 */
export const RULE_TEMPLATES: readonly RuleSpec[] = [
  rule("above", [["level", "integer"]], "level > context.data.min", ["min"], false),
  rule("high", [["level", "integer"]], "level >= 3", [], false),
  rule("scored", [["score", "double"]], "score > context.data.min", ["min"], false),
  rule("tagged", [["tag", "string"]], "tag == context.data.tag", ["tag"], false),
  rule("prefixed", [["tag", "string"]], "tag.startsWith('a')", [], false),
  rule("listed", [["tag", "string"]], "tag in context.data.tags", ["tags"], false),
  rule("labelled", [["tags", "string[]"]], "'a' in tags", [], false),
  rule("stale", [["archived", "boolean"]], "archived", [], false),
  rule(
    "ranked",
    [
      ["level", "integer"],
      ["tag", "string"],
    ],
    "level > 1 && tag != 'b'",
    [],
    false,
  ),
  rule(
    "flagged",
    [
      ["archived", "boolean"],
      ["level", "integer"],
    ],
    "archived || level > context.data.min",
    ["min"],
    false,
  ),
  // True for an entity without the attributes: see `trueWhenMissing` and the test's known divergences.
  rule("low", [["level", "integer"]], "level < 2", [], true),
  rule("untagged", [["tag", "string"]], "tag != 'b'", [], true),
  rule("fresh", [["archived", "boolean"]], "!archived", [], true),
];

/** A rule with a double-quoted string literal: generated only with `knownDivergences`. */
export const QUOTED_RULE: RuleSpec = rule("quoted", [["tag", "string"]], 'tag == "a"', [], false);

function rule(
  name: string,
  params: readonly (readonly [string, AttributeKind])[],
  body: string,
  contextKeys: readonly string[],
  trueWhenMissing: boolean,
): RuleSpec {
  return { name, params: params.map(([n, type]) => ({ name: n, type })), body, contextKeys, trueWhenMissing };
}

// ---------------------------------------------------------------------------------------------------------
// Cases

export interface QueryContext {
  readonly tuples: readonly string[];
  readonly attributes: readonly string[];
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface CheckQuery {
  /** `type:id` */
  readonly entity: string;
  /** A permission, or (as Permify allows) a relation, an attribute or a rule name. */
  readonly permission: string;
  /** `type:id` or `type:id#relation` */
  readonly subject: string;
  readonly context?: QueryContext;
}

export interface EntityLookupQuery {
  readonly entityType: string;
  readonly permission: string;
  readonly subject: string;
  readonly context?: QueryContext;
  readonly pageSize?: number;
}

export interface SubjectLookupQuery {
  readonly entity: string;
  readonly permission: string;
  readonly subjectType: string;
  readonly subjectRelation?: string;
  readonly context?: QueryContext;
  readonly pageSize?: number;
}

export interface DiffCase {
  readonly kind: string;
  readonly spec: SchemaSpec;
  readonly schema: string;
  /** Permify's `metadata.depth`, and the embedded evaluator's `maxDepth`. */
  readonly depth: number;
  readonly tuples: readonly string[];
  readonly attributes: readonly string[];
  readonly checks: readonly CheckQuery[];
  readonly entityLookups: readonly EntityLookupQuery[];
  readonly subjectLookups: readonly SubjectLookupQuery[];
}

export interface CaseOptions {
  readonly kind: string;
  readonly schema: SchemaOptions;
  readonly data: DataOptions;
  readonly queries: QueryOptions;
  /** Fixed, or drawn from [min, max]. Default 50. */
  readonly depth?: number | readonly [number, number];
}

export interface SchemaOptions {
  /** `algebra`: one entity with relations `a`, `b`, `c` and boolean attributes; otherwise user/team/folder/doc. */
  readonly shape: "algebra" | "graph";
  readonly teams?: "none" | "flat" | "nested";
  readonly folders?: boolean;
  readonly attributes?: boolean;
  readonly rules?: boolean;
  /** Also rules that hold for an entity without the attributes (`RuleSpec.trueWhenMissing`). */
  readonly trueWhenMissingRules?: boolean;
  /** Also `QUOTED_RULE`. */
  readonly quotedRules?: boolean;
  readonly maxPermissions?: number;
  readonly exprDepth?: number;
}

export interface DataOptions {
  readonly users: readonly [number, number];
  readonly teams?: readonly [number, number];
  readonly folders?: readonly [number, number];
  readonly docs: readonly [number, number];
  /** At most this many relationships. */
  readonly maxTuples: number;
  /** Nested groups and collection parents may form cycles (and usually do: a ring is added). */
  readonly cyclic: boolean | "sometimes";
}

export interface QueryOptions {
  readonly checks: readonly [number, number];
  readonly entityLookups: readonly [number, number];
  readonly subjectLookups: readonly [number, number];
  /** Contextual tuples, attributes and data in some queries. */
  readonly contexts?: boolean;
  /** Include constructs whose lookups are known to differ (see the test's KNOWN_DIVERGENCES). */
  readonly knownDivergences?: boolean;
}

/** Ids with mixed case, lengths and punctuation, so that ascending order (Go's byte order) is exercised. */
export const ID_POOLS: Readonly<Record<string, readonly string[]>> = {
  user: ["u1", "u2", "u10", "U3", "u_4", "u-5"],
  team: ["t1", "t2", "t10", "T3", "t-4", "t.5"],
  folder: ["f1", "f2", "f10", "F3", "f.4", "f_5"],
  doc: ["d1", "d2", "d10", "D3", "d-4", "d_5", "d.6", "d7"],
};

const DOC_PERMISSIONS = ["view", "edit", "share", "audit"];
const FOLDER_PERMISSIONS = ["view", "edit"];
const ALGEBRA_RELATION_NAMES = ["a", "b", "c"];

export function diffCaseArb(options: CaseOptions): fc.Arbitrary<DiffCase> {
  const depthArb =
    options.depth === undefined
      ? fc.constant(50)
      : typeof options.depth === "number"
        ? fc.constant(options.depth)
        : fc.integer({ min: options.depth[0], max: options.depth[1] });
  return fc
    .tuple(schemaSpecArb(options.schema), depthArb)
    .chain(([spec, depth]) => caseContentArb(options, spec, depth))
    .map((c) => printableCase({ ...c, depth: fitDepth(c, c.depth) }));
}

/**
 * Evaluations Permify may start for one check, at most, if no branch short-circuits: its check engine has
 * no cycle detection and starts every branch of a union or intersection concurrently, so on cyclic data
 * it walks every path until the depth runs out, and the first error only comes back after most of that
 * tree was started. Measured with v1.7.3 (three teams that all contain each other, a check that finds
 * nobody): depth 8 answers in 45 ms, depth 12 in 330 ms, depth 16 did not answer in 10 s and left the
 * server at 900 MB; at depth 50 it grows past 8 GB. So the depth of a case is lowered until this bound is
 * small; both sides always get the same depth.
 */
export const PERMIFY_WORK_BUDGET = 400;

/** The largest depth in [3, wanted] whose worst-case evaluation tree fits PERMIFY_WORK_BUDGET (3 at least: Permify's minimum). */
export function fitDepth(c: Omit<DiffCase, "depth">, wanted: number): number {
  const tuples = [
    ...c.tuples,
    ...[...c.checks, ...c.entityLookups, ...c.subjectLookups].flatMap((q) => q.context?.tuples ?? []),
  ];
  if (worstEvaluationTree(c.spec, tuples, wanted) <= PERMIFY_WORK_BUDGET) return wanted;
  // The bound grows with the depth: search for the largest depth that fits.
  let fits = 3;
  let over = wanted;
  while (over - fits > 1) {
    const middle = Math.floor((fits + over) / 2);
    if (worstEvaluationTree(c.spec, tuples, middle) <= PERMIFY_WORK_BUDGET) fits = middle;
    else over = middle;
  }
  return fits;
}

/** An upper bound on the evaluations of the worst check at `depth` (every nested evaluation costs a level). */
export function worstEvaluationTree(spec: SchemaSpec, tuples: readonly string[], depth: number): number {
  const bySource = new Map<string, { relation: string; subject: string; subjectRelation?: string }[]>();
  const entities = new Set<string>();
  for (const tuple of tuples) {
    const hash = tuple.indexOf("#");
    const at = tuple.indexOf("@", hash);
    const entity = tuple.slice(0, hash);
    const relation = tuple.slice(hash + 1, at);
    const subjectText = tuple.slice(at + 1);
    const subjectHash = subjectText.indexOf("#");
    const subject = subjectHash < 0 ? subjectText : subjectText.slice(0, subjectHash);
    const list = bySource.get(entity) ?? [];
    list.push({
      relation,
      subject,
      ...(subjectHash < 0 ? {} : { subjectRelation: subjectText.slice(subjectHash + 1) }),
    });
    bySource.set(entity, list);
    entities.add(entity);
    entities.add(subject);
  }
  const memo = new Map<string, number>();
  const cap = 1e9;
  const size = (entity: string, name: string, left: number): number => {
    if (left < 0) return 1;
    const key = `${entity}#${name}#${left}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    memo.set(key, cap); // a cycle at the same depth cannot happen (depth decreases), but be safe
    const type = entity.slice(0, entity.indexOf(":"));
    const definition = entitySpec(spec, type);
    const children: [string, string][] = [];
    const out = bySource.get(entity) ?? [];
    if (definition?.relations.some((r) => r.name === name)) {
      for (const t of out)
        if (t.relation === name && t.subjectRelation) children.push([t.subject, t.subjectRelation]);
    }
    const permission = definition?.permissions.find((p) => p.name === name);
    let total = 1;
    for (const text of permission ? leaves(permission.expr) : []) {
      const leaf = leafOf(text);
      if (leaf.kind === "call") total += 1;
      else if (leaf.kind === "name") children.push([entity, leaf.name]);
      else for (const t of out) if (t.relation === leaf.relation) children.push([t.subject, leaf.name]);
    }
    for (const [childEntity, childName] of children)
      total = Math.min(cap, total + size(childEntity, childName, left - 1));
    memo.set(key, total);
    return total;
  };
  let worst = 0;
  for (const entity of entities) {
    const type = entity.slice(0, entity.indexOf(":"));
    const definition = entitySpec(spec, type);
    for (const name of [...(definition?.relations ?? []), ...(definition?.permissions ?? [])].map(
      (m) => m.name,
    )) {
      worst = Math.max(worst, size(entity, name, depth));
    }
  }
  return worst;
}

// ---------------------------------------------------------------------------------------------------------
// Schemas

const USER: SubjectTypeSpec = { type: "user" };
const TEAM_MEMBERS: SubjectTypeSpec = { type: "team", relation: "member" };
const TEAM: SubjectTypeSpec = { type: "team" };
const FOLDER: SubjectTypeSpec = { type: "folder" };

function schemaSpecArb(options: SchemaOptions): fc.Arbitrary<SchemaSpec> {
  return options.shape === "algebra" ? algebraSchemaArb(options) : graphSchemaArb(options);
}

function permissionsArb(
  names: readonly string[],
  leavesFor: (index: number) => readonly string[],
  depth: number,
): fc.Arbitrary<PermissionSpec[]> {
  if (names.length === 0) return fc.constant([]);
  return fc.tuple(
    ...names.map((name, index) =>
      fc
        .tuple(exprArb(leavesFor(index), depth), spellingArb)
        .map(([expr, spelling]): PermissionSpec => ({ name, expr, spelling })),
    ),
  );
}

function algebraSchemaArb(options: SchemaOptions): fc.Arbitrary<SchemaSpec> {
  const maxPermissions = options.maxPermissions ?? 4;
  const depth = options.exprDepth ?? 3;
  return fc
    .record({
      attributes: options.attributes ? fc.subarray(["p", "q"], { minLength: 0 }) : fc.constant<string[]>([]),
      count: fc.integer({ min: 1, max: maxPermissions }),
    })
    .chain(({ attributes, count }) => {
      const names = Array.from({ length: count }, (_, i) => `p_${"abcdefgh"[i]}`);
      const leaves = (index: number) => [...ALGEBRA_RELATION_NAMES, ...attributes, ...names.slice(0, index)];
      return permissionsArb(names, leaves, depth).map(
        (permissions): SchemaSpec => ({
          entities: [
            { name: "user", relations: [], attributes: [], permissions: [] },
            {
              name: "doc",
              relations: ALGEBRA_RELATION_NAMES.map((name) => ({ name, subjects: [USER] })),
              attributes: attributes.map((name) => ({ name, type: "boolean" as const })),
              permissions,
            },
          ],
          rules: [],
        }),
      );
    });
}

interface GraphChoices {
  readonly teamLead: boolean;
  readonly teamAdmin: boolean;
  readonly docViewer: readonly SubjectTypeSpec[];
  readonly folderViewer: readonly SubjectTypeSpec[];
  readonly docTeam: boolean;
  readonly docBlocked: boolean;
  readonly docAttributes: readonly AttributeSpec[];
  readonly folderAttributes: readonly AttributeSpec[];
  readonly rules: readonly RuleSpec[];
  readonly docPermissions: number;
  readonly folderPermissions: number;
}

const DOC_ATTRIBUTES: readonly AttributeSpec[] = [
  { name: "public", type: "boolean" },
  { name: "archived", type: "boolean" },
  { name: "level", type: "integer" },
  { name: "score", type: "double" },
  { name: "tag", type: "string" },
  { name: "tags", type: "string[]" },
];
const FOLDER_ATTRIBUTES: readonly AttributeSpec[] = [
  { name: "public", type: "boolean" },
  { name: "level", type: "integer" },
];

function graphSchemaArb(options: SchemaOptions): fc.Arbitrary<SchemaSpec> {
  const teams = options.teams ?? "none";
  const folders = options.folders ?? false;
  const subjectChoices = teams === "none" ? [USER] : [USER, TEAM_MEMBERS, TEAM];
  const rules = options.rules
    ? [
        ...RULE_TEMPLATES.filter((r) => options.trueWhenMissingRules || !r.trueWhenMissing),
        ...(options.quotedRules ? [QUOTED_RULE] : []),
      ]
    : [];
  const choices: fc.Arbitrary<GraphChoices> = fc.record({
    teamLead: fc.boolean(),
    teamAdmin: fc.boolean(),
    docViewer: fc.subarray(subjectChoices, { minLength: 1 }),
    folderViewer: fc.subarray(subjectChoices, { minLength: 1 }),
    docTeam: teams === "none" ? fc.constant(false) : fc.boolean(),
    docBlocked: fc.boolean(),
    docAttributes: options.attributes ? fc.subarray([...DOC_ATTRIBUTES]) : fc.constant([]),
    folderAttributes: options.attributes && folders ? fc.subarray([...FOLDER_ATTRIBUTES]) : fc.constant([]),
    rules: rules.length > 0 ? fc.subarray(rules, { maxLength: 3 }) : fc.constant([]),
    docPermissions: fc.integer({ min: 1, max: options.maxPermissions ?? 3 }),
    folderPermissions: fc.integer({ min: 1, max: FOLDER_PERMISSIONS.length }),
  });
  const depth = options.exprDepth ?? 2;
  return choices.chain((choice) => {
    const calls = (attributes: readonly AttributeSpec[]) =>
      choice.rules
        .filter((r) => r.params.every((p) => attributes.some((a) => a.name === p.name && a.type === p.type)))
        .map((r) => `${r.name}(${r.params.map((p) => p.name).join(", ")})`);
    const booleans = (attributes: readonly AttributeSpec[]) =>
      attributes.filter((a) => a.type === "boolean").map((a) => a.name);

    const teamEntity = (admin: PermissionSpec[]): EntitySpec => ({
      name: "team",
      relations: [
        { name: "member", subjects: teams === "nested" ? [USER, TEAM_MEMBERS] : [USER] },
        ...(choice.teamLead ? [{ name: "lead", subjects: [USER] }] : []),
      ],
      attributes: [],
      permissions: admin,
    });
    const teamAdminArb =
      teams !== "none" && choice.teamLead && choice.teamAdmin
        ? permissionsArb(["admin"], () => ["lead", "lead", "member"], 1)
        : fc.constant<PermissionSpec[]>([]);

    const folderNames = FOLDER_PERMISSIONS.slice(0, choice.folderPermissions);
    const folderLeaves = (index: number) => [
      "owner",
      "viewer",
      // Twice: nested collections are the point of folders.
      ...folderNames.flatMap((name) => [`parent.${name}`, `parent.${name}`]),
      ...folderNames.slice(0, index),
      ...booleans(choice.folderAttributes),
      ...calls(choice.folderAttributes),
    ];
    const folderPermissionsArb = folders
      ? permissionsArb(folderNames, folderLeaves, depth)
      : fc.constant<PermissionSpec[]>([]);

    const docNames = DOC_PERMISSIONS.slice(0, choice.docPermissions);
    return fc.tuple(teamAdminArb, folderPermissionsArb).chain(([admin, folderPermissions]) => {
      const docLeaves = (index: number) => [
        "owner",
        "viewer",
        ...(choice.docBlocked ? ["blocked"] : []),
        ...docNames.slice(0, index),
        ...(folders ? folderNames.flatMap((name) => [`folder.${name}`, `folder.${name}`]) : []),
        ...(choice.docTeam ? ["team.member", ...(admin.length > 0 ? ["team.admin"] : [])] : []),
        ...booleans(choice.docAttributes),
        ...calls(choice.docAttributes),
      ];
      return permissionsArb(docNames, docLeaves, depth).map((docPermissions): SchemaSpec => {
        const entities: EntitySpec[] = [{ name: "user", relations: [], attributes: [], permissions: [] }];
        if (teams !== "none") entities.push(teamEntity(admin));
        if (folders) {
          entities.push({
            name: "folder",
            relations: [
              { name: "parent", subjects: [FOLDER] },
              { name: "owner", subjects: [USER] },
              { name: "viewer", subjects: choice.folderViewer },
            ],
            attributes: choice.folderAttributes,
            permissions: folderPermissions,
          });
        }
        entities.push({
          name: "doc",
          relations: [
            ...(folders ? [{ name: "folder", subjects: [FOLDER] }] : []),
            // Walked by `team.member`. Only plain `@team`: a walk over a relation that admits a recursive
            // userset (`relation team @team#member` with `team member @team#member`) makes Permify v1.7.3's
            // schema compiler loop without end (it follows `#member` through itself), see the test's notes.
            ...(choice.docTeam ? [{ name: "team", subjects: [TEAM] }] : []),
            { name: "owner", subjects: [USER] },
            { name: "viewer", subjects: choice.docViewer },
            ...(choice.docBlocked ? [{ name: "blocked", subjects: [USER] }] : []),
          ],
          attributes: choice.docAttributes,
          permissions: docPermissions,
        });
        const used = new Set(
          entities.flatMap((e) => calls(e.attributes).map((call) => call.slice(0, call.indexOf("(")))),
        );
        return { entities, rules: choice.rules.filter((r) => used.has(r.name)) };
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Data and queries

function rangeArb([min, max]: readonly [number, number]): fc.Arbitrary<number> {
  return fc.integer({ min, max });
}

interface Population {
  readonly ids: Readonly<Record<string, readonly string[]>>;
}

function attributeValueArb(type: AttributeKind): fc.Arbitrary<string> {
  switch (type) {
    case "boolean":
      return fc.boolean().map(String);
    case "integer":
      return fc.integer({ min: 0, max: 5 }).map(String);
    case "double":
      return fc.constantFrom("0", "0.5", "1.5", "3", "4.25");
    case "string":
      return fc.constantFrom("a", "b", "ab", "x");
    case "string[]":
      return fc.subarray(["a", "b", "c"], { minLength: 1 }).map((items) => items.join(","));
  }
}

function entitySpec(spec: SchemaSpec, type: string): EntitySpec | undefined {
  return spec.entities.find((e) => e.name === type);
}

/** Every relationship the schema admits over `population`; `acyclic` keeps self-nesting edges one-way. */
function candidateTuples(spec: SchemaSpec, population: Population, acyclic: boolean): string[] {
  const out: string[] = [];
  for (const entity of spec.entities) {
    const ids = population.ids[entity.name] ?? [];
    for (const relation of entity.relations) {
      for (const subjectType of relation.subjects) {
        const subjectIds = population.ids[subjectType.type] ?? [];
        ids.forEach((id, i) => {
          subjectIds.forEach((subjectId, j) => {
            if (subjectType.type === entity.name) {
              // Permify rejects a tuple whose subject equals its entity (`team:x#member@team:x#member`).
              if (i === j && subjectType.relation === relation.name) return;
              if (acyclic && i >= j) return;
            }
            const suffix = subjectType.relation ? `#${subjectType.relation}` : "";
            out.push(`${entity.name}:${id}#${relation.name}@${subjectType.type}:${subjectId}${suffix}`);
          });
        });
      }
    }
  }
  return out;
}

/** A ring through 2–3 entities of a self-nesting relation, so that most cyclic cases have a cycle. */
function ringArb(spec: SchemaSpec, population: Population): fc.Arbitrary<string[]> {
  const nesting: { type: string; relation: string; suffix: string }[] = [];
  for (const entity of spec.entities) {
    for (const relation of entity.relations) {
      for (const subject of relation.subjects) {
        if (subject.type === entity.name && (population.ids[entity.name]?.length ?? 0) >= 2) {
          nesting.push({
            type: entity.name,
            relation: relation.name,
            suffix: subject.relation ? `#${subject.relation}` : "",
          });
        }
      }
    }
  }
  if (nesting.length === 0) return fc.constant([]);
  return fc.constantFrom(...nesting).chain((n) => {
    const ids = population.ids[n.type] as readonly string[];
    return fc
      .uniqueArray(fc.constantFrom(...ids), { minLength: 2, maxLength: Math.min(3, ids.length) })
      .map((ring) =>
        ring.map(
          (id, k) => `${n.type}:${id}#${n.relation}@${n.type}:${ring[(k + 1) % ring.length]}${n.suffix}`,
        ),
      );
  });
}

function caseContentArb(options: CaseOptions, spec: SchemaSpec, depth: number): fc.Arbitrary<DiffCase> {
  const d = options.data;
  const populationArb = fc
    .record({
      user: rangeArb(d.users),
      team: entitySpec(spec, "team") && d.teams ? rangeArb(d.teams) : fc.constant(0),
      folder: entitySpec(spec, "folder") && d.folders ? rangeArb(d.folders) : fc.constant(0),
      doc: rangeArb(d.docs),
    })
    .map(
      (counts): Population => ({
        ids: Object.fromEntries(
          Object.entries(counts).map(([type, n]) => [type, (ID_POOLS[type] ?? []).slice(0, n)]),
        ),
      }),
    );
  const cyclicArb = d.cyclic === "sometimes" ? fc.boolean() : fc.constant(d.cyclic);
  return fc.tuple(populationArb, cyclicArb).chain(([population, cyclic]) => {
    const candidates = candidateTuples(spec, population, !cyclic);
    const tuplesArb = fc
      .tuple(
        candidates.length === 0
          ? fc.constant<string[]>([])
          : fc.subarray(candidates, { maxLength: Math.min(d.maxTuples, candidates.length) }),
        cyclic ? ringArb(spec, population) : fc.constant<string[]>([]),
      )
      .map(([picked, ring]) => [...new Set([...picked, ...ring])]);
    const attributeSlots = spec.entities.flatMap((entity) =>
      (population.ids[entity.name] ?? []).flatMap((id) =>
        entity.attributes.map((a) => ({ prefix: `${entity.name}:${id}$${a.name}|${a.type}:`, type: a.type })),
      ),
    );
    const attributesArb = fc
      .tuple(
        ...attributeSlots.map((slot) =>
          fc.option(
            attributeValueArb(slot.type).map((value) => `${slot.prefix}${value}`),
            { freq: 2 },
          ),
        ),
      )
      .map((values) => values.filter((v): v is string => v !== null));
    const pools = queryPools(
      spec,
      population,
      candidates,
      attributeSlots,
      options.queries.knownDivergences ?? false,
    );
    return fc
      .record({
        tuples: tuplesArb,
        attributes: attributeSlots.length === 0 ? fc.constant<string[]>([]) : attributesArb,
        queries: queriesArb(options.queries, spec, pools),
      })
      .map(({ tuples, attributes, queries }): DiffCase => {
        const c: DiffCase = {
          kind: options.kind,
          spec,
          schema: schemaText(spec),
          depth,
          tuples,
          attributes,
          ...queries,
        };
        // Subject lookups that Permify cannot answer at all are never asked (see `subjectLookupHazard`).
        const asked = {
          ...c,
          subjectLookups: c.subjectLookups.filter((q) => subjectLookupHazard(c, q) === undefined),
        };
        return asked;
      });
  });
}

interface QueryPools {
  /** `type:id` by entity type, with one id beyond those the data uses (an entity nothing mentions). */
  readonly entities: ReadonlyMap<string, readonly string[]>;
  /** Names worth checking on each type, weighted by repetition. */
  readonly checkNames: ReadonlyMap<string, readonly string[]>;
  /** (type, permission-or-relation) pairs for lookups. */
  readonly lookupTargets: readonly { readonly type: string; readonly name: string }[];
  readonly subjects: readonly string[];
  readonly lookupSubjectTypes: readonly { readonly type: string; readonly relation?: string }[];
  readonly candidateTuples: readonly string[];
  readonly attributeSlots: readonly { readonly prefix: string; readonly type: AttributeKind }[];
  readonly contextKeys: readonly string[];
}

function queryPools(
  spec: SchemaSpec,
  population: Population,
  candidates: readonly string[],
  attributeSlots: readonly { prefix: string; type: AttributeKind }[],
  knownDivergences: boolean,
): QueryPools {
  const entities = new Map<string, string[]>();
  const checkNames = new Map<string, string[]>();
  const lookupTargets: { type: string; name: string }[] = [];
  for (const entity of spec.entities) {
    if (entity.name === "user") continue;
    const used = population.ids[entity.name] ?? [];
    const pool = ID_POOLS[entity.name] ?? [];
    const ids = pool.slice(0, Math.min(pool.length, used.length + 1));
    if (ids.length === 0) continue;
    entities.set(
      entity.name,
      ids.map((id) => `${entity.name}:${id}`),
    );
    const permissions = entity.permissions.map((p) => p.name);
    const relations = entity.relations.map((r) => r.name);
    const booleans = entity.attributes.filter((a) => a.type === "boolean").map((a) => a.name);
    // Names Permify answers with an error on this entity: a non-boolean attribute, a rule called without
    // its arguments, nothing at all.
    const odd = [
      // KNOWN_DIVERGENCES "check-non-boolean-attribute".
      ...(knownDivergences ? entity.attributes.filter((a) => a.type !== "boolean").map((a) => a.name) : []),
      ...spec.rules.map((r) => r.name),
      "nothing",
    ];
    checkNames.set(entity.name, [
      ...permissions,
      ...permissions,
      ...permissions,
      ...relations,
      ...booleans,
      ...(odd.length > 0 ? [odd[0] as string] : []),
      ...odd,
    ]);
    for (const name of [...permissions, ...permissions, ...relations])
      lookupTargets.push({ type: entity.name, name });
  }
  const users = ID_POOLS.user ?? [];
  const userIds = users.slice(0, Math.min(users.length, (population.ids.user?.length ?? 0) + 1));
  const teamIds = population.ids.team ?? [];
  const admitsPlainTeam = spec.entities.some((e) =>
    e.relations.some((r) => r.subjects.some((s) => s.type === "team" && s.relation === undefined)),
  );
  const subjects = [
    ...userIds.map((id) => `user:${id}`),
    ...userIds.map((id) => `user:${id}`),
    ...teamIds.map((id) => `team:${id}#member`),
    ...(admitsPlainTeam ? teamIds.map((id) => `team:${id}`) : []),
  ];
  const lookupSubjectTypes = [
    { type: "user" },
    ...(teamIds.length > 0 ? [{ type: "team", relation: "member" }] : []),
    ...(admitsPlainTeam ? [{ type: "team" }] : []),
  ];
  return {
    entities,
    checkNames,
    lookupTargets,
    subjects,
    lookupSubjectTypes,
    candidateTuples: candidates,
    attributeSlots,
    contextKeys: [...new Set(spec.rules.flatMap((r) => r.contextKeys))],
  };
}

const contextDataArb: fc.Arbitrary<Record<string, unknown>> = fc.record({
  min: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(0.5, 2.5)),
  tag: fc.constantFrom("a", "b"),
  tags: fc.subarray(["a", "b", "c"], { minLength: 1 }),
});

function queriesArb(
  options: QueryOptions,
  spec: SchemaSpec,
  pools: QueryPools,
): fc.Arbitrary<Pick<DiffCase, "checks" | "entityLookups" | "subjectLookups">> {
  const needsData = pools.contextKeys.length > 0;
  const dataArb = contextDataArb.map((all) =>
    Object.fromEntries(Object.entries(all).filter(([key]) => pools.contextKeys.includes(key))),
  );
  const extraArb = (maxTuples: number) =>
    fc.record({
      tuples:
        pools.candidateTuples.length === 0
          ? fc.constant<string[]>([])
          : fc.subarray([...pools.candidateTuples], { maxLength: maxTuples }),
      attributes:
        pools.attributeSlots.length === 0
          ? fc.constant<string[]>([])
          : fc
              .option(
                fc
                  .constantFrom(...pools.attributeSlots)
                  .chain((slot) => attributeValueArb(slot.type).map((value) => `${slot.prefix}${value}`)),
              )
              .map((a) => (a === null ? [] : [a])),
    });
  /**
   * A request's context: contextual tuples and attributes sometimes; `context.data` whenever a rule reads
   * it, except (checks only, `dropData`) now and then, to see both sides fail alike.
   */
  const contextArb = (dropData: boolean): fc.Arbitrary<QueryContext | undefined> => {
    const extra = options.contexts
      ? fc.option(extraArb(2), { freq: 3, nil: undefined })
      : fc.constant(undefined);
    const data = needsData
      ? dropData
        ? fc.option(dataArb, { freq: 12, nil: undefined })
        : dataArb.map((x): Record<string, unknown> | undefined => x)
      : fc.constant(undefined);
    return fc.tuple(extra, data).map(([e, dataValue]) => {
      if (e === undefined && dataValue === undefined) return undefined;
      return {
        tuples: e?.tuples ?? [],
        attributes: e?.attributes ?? [],
        ...(dataValue === undefined ? {} : { data: dataValue }),
      };
    });
  };
  const withContext = <T extends object>(query: T, context: QueryContext | undefined): T =>
    context === undefined ? query : { ...query, context };

  const types = [...pools.checkNames.keys()];
  const checkArb = fc
    .tuple(
      fc.constantFrom(...types),
      fc.nat(),
      fc.nat(),
      fc.constantFrom(...pools.subjects),
      contextArb(true),
    )
    .map(([type, e, n, subject, context]): CheckQuery => {
      const entities = pools.entities.get(type) as readonly string[];
      const names = pools.checkNames.get(type) as readonly string[];
      return withContext(
        {
          entity: entities[e % entities.length] as string,
          permission: names[n % names.length] as string,
          subject,
        },
        context,
      );
    });
  const pageSizeArb = fc.constantFrom(undefined, 1, 2, 3);
  const lookupSubjectArb = fc.constantFrom(
    ...pools.subjects.filter((s) => !s.includes("#") || s.endsWith("#member")),
  );
  const entityLookupArb = fc
    .tuple(fc.constantFrom(...pools.lookupTargets), lookupSubjectArb, contextArb(false), pageSizeArb)
    .map(
      ([target, subject, context, pageSize]): EntityLookupQuery =>
        withContext(
          { entityType: target.type, permission: target.name, subject, ...(pageSize ? { pageSize } : {}) },
          context,
        ),
    );
  const subjectTypes = options.knownDivergences
    ? pools.lookupSubjectTypes
    : // Default: subjects without a relation only (KNOWN_DIVERGENCES: "lookupSubjects-userset").
      pools.lookupSubjectTypes.filter((t) => t.relation === undefined);
  const subjectLookupArb = fc
    .tuple(
      fc.constantFrom(...pools.lookupTargets),
      fc.nat(),
      fc.constantFrom(...subjectTypes),
      contextArb(false),
      pageSizeArb,
    )
    .map(([target, e, subjectType, context, pageSize]): SubjectLookupQuery => {
      const entities = pools.entities.get(target.type) as readonly string[];
      return withContext(
        {
          entity: entities[e % entities.length] as string,
          permission: target.name,
          subjectType: subjectType.type,
          ...(subjectType.relation ? { subjectRelation: subjectType.relation } : {}),
          ...(pageSize ? { pageSize } : {}),
        },
        context,
      );
    });
  const [minChecks, maxChecks] = options.checks;
  return fc.record({
    checks: fc.array(checkArb, { minLength: minChecks, maxLength: maxChecks, size: "medium" }),
    entityLookups: fc.array(entityLookupArb, {
      minLength: options.entityLookups[0],
      maxLength: options.entityLookups[1],
    }),
    subjectLookups: fc
      .array(subjectLookupArb, { minLength: options.subjectLookups[0], maxLength: options.subjectLookups[1] })
      .map((lookups) =>
        options.knownDivergences ? lookups : lookups.filter((q) => !readsAttributes(spec, q)),
      ),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Analyses

type Leaf =
  | { kind: "name"; name: string }
  | { kind: "walk"; relation: string; name: string }
  | { kind: "call" };

function leafOf(text: string): Leaf {
  if (text.includes("(")) return { kind: "call" };
  const dot = text.indexOf(".");
  if (dot >= 0) return { kind: "walk", relation: text.slice(0, dot), name: text.slice(dot + 1) };
  return { kind: "name", name: text };
}

function leaves(expr: Expr): string[] {
  return expr.kind === "ref" ? [expr.name] : [...leaves(expr.left), ...leaves(expr.right)];
}

/**
 * Whether a subject lookup of `query.permission` on `query.entity`'s type can reach an attribute or a rule,
 * through permissions, walks and userset relations (the paths Permify's subject filter takes). Those are
 * where Permify's subject filter answers "any subject" (see KNOWN_DIVERGENCES "lookupSubjects-wildcard").
 */
export function readsAttributes(
  spec: SchemaSpec,
  query: Pick<SubjectLookupQuery, "entity" | "permission">,
): boolean {
  const seen = new Set<string>();
  const visit = (type: string, name: string): boolean => {
    const key = `${type}#${name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    const entity = entitySpec(spec, type);
    if (!entity) return false;
    const relation = entity.relations.find((r) => r.name === name);
    if (relation) return relation.subjects.some((s) => s.relation !== undefined && visit(s.type, s.relation));
    const permission = entity.permissions.find((p) => p.name === name);
    if (!permission) return true; // an attribute, a rule name, or nothing: not a plain set of subjects
    return leaves(permission.expr).some((text) => {
      const leaf = leafOf(text);
      if (leaf.kind === "call") return true;
      if (leaf.kind === "name") return visit(type, leaf.name);
      const walked = entity.relations.find((r) => r.name === leaf.relation);
      return (walked?.subjects ?? []).some((s) => visit(s.type, leaf.name));
    });
  };
  return visit(query.entity.slice(0, query.entity.indexOf(":")), query.permission);
}

function edges(tuples: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const tuple of tuples) {
    const hash = tuple.indexOf("#");
    const at = tuple.indexOf("@", hash);
    const from = tuple.slice(0, hash);
    const subject = tuple.slice(at + 1);
    const to = subject.includes("#") ? subject.slice(0, subject.indexOf("#")) : subject;
    const list = out.get(from) ?? [];
    list.push(to);
    out.set(from, list);
  }
  return out;
}

/** Whether following relationships from `start` (entity → subject) can come back to an entity already on the path. */
export function reachesCycle(tuples: readonly string[], start?: string): boolean {
  const graph = edges(tuples);
  const state = new Map<string, "open" | "done">();
  const visit = (node: string): boolean => {
    const s = state.get(node);
    if (s === "open") return true;
    if (s === "done") return false;
    state.set(node, "open");
    for (const next of graph.get(node) ?? []) if (visit(next)) return true;
    state.set(node, "done");
    return false;
  };
  if (start !== undefined) return visit(start);
  return [...graph.keys()].some(visit);
}

/** All relationships a query can see: the stored ones and its contextual ones. */
export function tuplesSeenBy(
  c: Pick<DiffCase, "tuples">,
  context: QueryContext | undefined,
): readonly string[] {
  return context && context.tuples.length > 0 ? [...c.tuples, ...context.tuples] : c.tuples;
}

/**
 * Why Permify cannot be asked this subject lookup at all, or undefined. Permify v1.7.3's subject filter has
 * no depth limit and no visited set: on a relationship cycle it recurses until the request's deadline and
 * keeps growing its memory (hundreds of MB to GB) afterwards, which would take the shared server down.
 */
export function subjectLookupHazard(c: DiffCase, query: SubjectLookupQuery): string | undefined {
  return reachesCycle(tuplesSeenBy(c, query.context), query.entity)
    ? "a relationship cycle is reachable from the entity"
    : undefined;
}

/** Whether any question of the case can see a relationship cycle. */
export function caseHasCycle(c: DiffCase): boolean {
  const contexts = [...c.checks, ...c.entityLookups, ...c.subjectLookups].map((q) => q.context);
  return contexts.some((context) => reachesCycle(tuplesSeenBy(c, context))) || reachesCycle(c.tuples);
}

// ---------------------------------------------------------------------------------------------------------
// A model of the answers Permify can give

export type Outcome = "allowed" | "denied" | "error";

/**
 * The rule bodies of RULE_TEMPLATES and QUOTED_RULE in JavaScript, with Permify's empty values for missing
 * attributes. A missing `context.data` key throws, as CEL's "no such key" does.
 */
const RULE_BODIES: Readonly<
  Record<string, (a: Readonly<Record<string, unknown>>, data: Readonly<Record<string, unknown>>) => boolean>
> = {
  above: (a, d) => (a.level as number) > (key(d, "min") as number),
  high: (a) => (a.level as number) >= 3,
  scored: (a, d) => (a.score as number) > (key(d, "min") as number),
  tagged: (a, d) => a.tag === key(d, "tag"),
  prefixed: (a) => (a.tag as string).startsWith("a"),
  listed: (a, d) => (key(d, "tags") as unknown[]).includes(a.tag),
  labelled: (a) => (a.tags as string[]).includes("a"),
  stale: (a) => a.archived as boolean,
  ranked: (a) => (a.level as number) > 1 && a.tag !== "b",
  // CEL's `||` is commutative over errors: `true || <error>` is true.
  flagged: (a, d) => (a.archived as boolean) || (a.level as number) > (key(d, "min") as number),
  low: (a) => (a.level as number) < 2,
  untagged: (a) => a.tag !== "b",
  fresh: (a) => !(a.archived as boolean),
  quoted: (a) => a.tag === "a",
};

function key(data: Readonly<Record<string, unknown>>, name: string): unknown {
  if (!(name in data)) throw new Error(`no such key: ${name}`);
  return data[name];
}

const EMPTY_VALUES: Readonly<Record<AttributeKind, unknown>> = {
  boolean: false,
  integer: 0,
  double: 0,
  string: "",
  "string[]": [],
};

function attributeValue(type: AttributeKind, raw: string): unknown {
  switch (type) {
    case "boolean":
      return raw === "true";
    case "integer":
    case "double":
      return Number(raw);
    case "string":
      return raw;
    case "string[]":
      return raw.split(",");
  }
}

export interface ModelQuestion {
  readonly entity: string;
  readonly permission: string;
  readonly subject: string;
  readonly context?: QueryContext;
}

/**
 * How `x not y` combines its operands: `permify` waits for x and returns its error whatever y says
 * (`checkExclusion`); `three-valued` is the embedded evaluator's rule, where x failing and y allowed is
 * DENIED. Used only to name the cause of a disagreement.
 */
export type ExclusionRule = "permify" | "three-valued";

/**
 * The answers Permify v1.7.3 can give to a check, as a set: its unions and intersections start every
 * branch at once and return the first that settles it (an error included), and its check cache can
 * answer a sub-question with a decision computed earlier with more depth left. So on data where checks
 * can fail, one question may have several answers; elsewhere this is one answer. Used only to judge
 * answers that differ: when the embedded evaluator's answer is one Permify can give, the difference is
 * Permify's nondeterminism, not a divergence. Depth is counted as the embedded evaluator counts it, give
 * or take one level (the union over depth-1..depth+1), so that the model does not depend on that detail.
 */
export function permifyOutcomes(
  c: DiffCase,
  question: ModelQuestion,
  exclusion: ExclusionRule = "permify",
): Set<Outcome> {
  const context = question.context;
  const forward = new Map<string, { type: string; id: string; relation?: string }[]>();
  for (const tuple of [...c.tuples, ...(context?.tuples ?? [])]) {
    const hash = tuple.indexOf("#");
    const at = tuple.indexOf("@", hash);
    const subjectText = tuple.slice(at + 1);
    const colon = subjectText.indexOf(":");
    const subjectHash = subjectText.indexOf("#");
    const subject = {
      type: subjectText.slice(0, colon),
      id: subjectText.slice(colon + 1, subjectHash < 0 ? undefined : subjectHash),
      ...(subjectHash < 0 ? {} : { relation: subjectText.slice(subjectHash + 1) }),
    };
    const k = `${tuple.slice(0, hash)}#${tuple.slice(hash + 1, at)}`;
    const list = forward.get(k) ?? [];
    if (
      !list.some((s) => s.type === subject.type && s.id === subject.id && s.relation === subject.relation)
    ) {
      list.push(subject);
    }
    forward.set(k, list);
  }
  const readAttributes = (list: readonly string[]) => {
    const out = new Map<string, unknown>();
    for (const text of list) {
      const dollar = text.indexOf("$");
      const bar = text.indexOf("|");
      const colon = text.indexOf(":", bar);
      out.set(
        `${text.slice(0, dollar)}$${text.slice(dollar + 1, bar)}`,
        attributeValue(text.slice(bar + 1, colon) as AttributeKind, text.slice(colon + 1)),
      );
    }
    return out;
  };
  const stored = readAttributes(c.attributes);
  const contextual = readAttributes(context?.attributes ?? []);
  const data = context?.data ?? {};
  const subjectText = question.subject;
  const subjectHash = subjectText.indexOf("#");
  const subjectEntity = subjectHash < 0 ? subjectText : subjectText.slice(0, subjectHash);
  const subjectRelation = subjectHash < 0 ? "" : subjectText.slice(subjectHash + 1);

  const decided = (set: ReadonlySet<Outcome>) => [...set].filter((o) => o !== "error");
  const union = (sets: readonly ReadonlySet<Outcome>[]): Set<Outcome> => {
    const out = new Set<Outcome>();
    if (sets.some((s) => s.has("allowed"))) out.add("allowed");
    if (sets.some((s) => s.has("error"))) out.add("error");
    if (sets.every((s) => s.has("denied"))) out.add("denied");
    return out;
  };
  const intersection = (sets: readonly ReadonlySet<Outcome>[]): Set<Outcome> => {
    const out = new Set<Outcome>();
    if (sets.some((s) => s.has("denied"))) out.add("denied");
    if (sets.some((s) => s.has("error"))) out.add("error");
    if (sets.every((s) => s.has("allowed"))) out.add("allowed");
    return out;
  };
  const exclude = (left: ReadonlySet<Outcome>, right: ReadonlySet<Outcome>): Set<Outcome> => {
    const out = new Set<Outcome>();
    for (const l of left) {
      if (l === "denied") out.add("denied");
      else if (l === "error") {
        if (exclusion === "permify") out.add("error");
        else for (const r of right) out.add(r === "allowed" ? "denied" : "error");
      } else {
        for (const r of right) out.add(r === "error" ? "error" : r === "allowed" ? "denied" : "allowed");
      }
    }
    return out;
  };

  const run = (top: number): Set<Outcome> => {
    const memo = new Map<string, Set<Outcome>>();
    const fresh = new Map<string, Set<Outcome>>();
    const invoke = (entity: string, name: string, depth: number, cached: boolean): Set<Outcome> => {
      if (depth < 0) return new Set(["error"]);
      if (entity === subjectEntity && name === subjectRelation) return new Set(["allowed"]);
      const table = cached ? memo : fresh;
      const k = `${entity}#${name}@${depth}`;
      const known = table.get(k);
      if (known) return known;
      const type = entity.slice(0, entity.indexOf(":"));
      const spec = entitySpec(c.spec, type);
      let result: Set<Outcome>;
      const attribute = spec?.attributes.find((a) => a.name === name);
      const relation = spec?.relations.find((r) => r.name === name);
      const permission = spec?.permissions.find((p) => p.name === name);
      if (!spec) result = new Set(["error"]);
      else if (attribute) result = attributeOutcome(entity, attribute);
      else if (relation) {
        const subjects = forward.get(`${entity}#${name}`) ?? [];
        const direct = subjects.some(
          (s) => `${s.type}:${s.id}` === subjectEntity && (s.relation ?? "") === subjectRelation,
        );
        result = direct
          ? new Set(["allowed"])
          : union(
              subjects
                .filter((s) => s.relation !== undefined)
                .map((s) => invoke(`${s.type}:${s.id}`, s.relation as string, depth - 1, cached)),
            );
      } else if (permission) result = node(entity, permission.expr, depth - 1, cached);
      else result = new Set(["error"]); // a rule name or nothing: Permify fails
      if (cached && (relation || permission)) {
        // Permify's cache may answer with what an evaluation with the full depth decided.
        for (const o of decided(invoke(entity, name, top, false))) result.add(o);
      }
      table.set(k, result);
      return result;
    };
    const attributeOutcome = (entity: string, attribute: AttributeSpec): Set<Outcome> => {
      const k = `${entity}$${attribute.name}`;
      const value = contextual.has(k) ? contextual.get(k) : stored.get(k);
      if (attribute.type !== "boolean") return new Set([value === undefined ? "denied" : "error"]);
      return new Set([value === true ? "allowed" : "denied"]);
    };
    const node = (entity: string, expr: Expr, depth: number, cached: boolean): Set<Outcome> => {
      if (expr.kind === "op") {
        const left = node(entity, expr.left, depth, cached);
        const right = node(entity, expr.right, depth, cached);
        return expr.op === "or"
          ? union([left, right])
          : expr.op === "and"
            ? intersection([left, right])
            : exclude(left, right);
      }
      const leaf = leafOf(expr.name);
      if (leaf.kind === "name") return invoke(entity, leaf.name, depth, cached);
      if (leaf.kind === "walk") {
        const subjects = forward.get(`${entity}#${leaf.relation}`) ?? [];
        return union(subjects.map((s) => invoke(`${s.type}:${s.id}`, leaf.name, depth, cached)));
      }
      if (depth < 0) return new Set(["error"]);
      const ruleName = expr.name.slice(0, expr.name.indexOf("("));
      const rule = c.spec.rules.find((r) => r.name === ruleName);
      const body = RULE_BODIES[ruleName];
      if (!rule || !body) return new Set(["error"]);
      const args: Record<string, unknown> = {};
      for (const param of rule.params) {
        // Rule arguments read the stored value first, then the contextual one (Permify's
        // NewUniqueAttributeIterator(stored, contextual)); a boolean leaf reads the contextual one first.
        const k = `${entity}$${param.name}`;
        args[param.name] = stored.has(k)
          ? stored.get(k)
          : contextual.has(k)
            ? contextual.get(k)
            : EMPTY_VALUES[param.type];
      }
      try {
        return new Set([body(args, data) ? "allowed" : "denied"]);
      } catch {
        return new Set(["error"]);
      }
    };
    return invoke(question.entity, question.permission, top, true);
  };
  const out = new Set<Outcome>();
  for (const top of [c.depth - 1, c.depth, c.depth + 1]) for (const o of run(top)) out.add(o);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Printing

function contextForYaml(context: QueryContext | undefined): Record<string, unknown> | undefined {
  if (context === undefined) return undefined;
  return {
    tuples: [...context.tuples],
    attributes: [...context.attributes],
    ...(context.data === undefined ? {} : { data: context.data }),
  };
}

export interface YamlAnswers {
  /** Per check of the case, Permify's answer (true/false), or undefined when it failed. */
  readonly checks?: readonly (boolean | undefined)[];
  readonly entityLookups?: readonly (readonly string[] | undefined)[];
  readonly subjectLookups?: readonly (readonly string[] | undefined)[];
}

/**
 * The case as a validation file (`permify validate`, `clearance validate`): one scenario with every
 * question. Assertions are the given answers (Permify's); a question without an answer (it failed) is
 * listed with an empty `assertions` so that the file still names it. Lines of `header` become comments.
 */
export function caseToYaml(c: DiffCase, answers: YamlAnswers = {}, header: readonly string[] = []): string {
  const checks = c.checks.map((q, i) => {
    const answer = answers.checks?.[i];
    const context = contextForYaml(q.context);
    return {
      entity: q.entity,
      subject: q.subject,
      ...(context ? { context } : {}),
      assertions: answer === undefined ? {} : { [q.permission]: answer },
    };
  });
  const entityFilters = c.entityLookups.map((q, i) => {
    const answer = answers.entityLookups?.[i];
    const context = contextForYaml(q.context);
    return {
      entity_type: q.entityType,
      subject: q.subject,
      ...(context ? { context } : {}),
      assertions: answer === undefined ? {} : { [q.permission]: [...answer] },
    };
  });
  const subjectFilters = c.subjectLookups.map((q, i) => {
    const answer = answers.subjectLookups?.[i];
    const context = contextForYaml(q.context);
    return {
      subject_reference: q.subjectRelation ? `${q.subjectType}#${q.subjectRelation}` : q.subjectType,
      entity: q.entity,
      ...(context ? { context } : {}),
      assertions: answer === undefined ? {} : { [q.permission]: [...answer] },
    };
  });
  const body = stringify(
    {
      schema: c.schema,
      relationships: [...c.tuples],
      attributes: [...c.attributes],
      scenarios: [
        {
          name: c.kind,
          description: `differential case (depth ${c.depth})`,
          checks,
          entity_filters: entityFilters,
          subject_filters: subjectFilters,
        },
      ],
    },
    { lineWidth: 0 },
  );
  return [...header.map((line) => `# ${line}`), body].join("\n");
}

/** Makes fast-check print the case as a validation file. */
export function printableCase(c: DiffCase): DiffCase {
  return Object.defineProperty({ ...c }, fc.toStringMethod, {
    value: () => `\n${caseToYaml(c, {}, [`kind: ${c.kind}, depth ${c.depth}`])}`,
    enumerable: false,
  });
}
