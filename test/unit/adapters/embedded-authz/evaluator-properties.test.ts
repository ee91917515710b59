/**
 * Properties of the embedded evaluator's algebra, checked against naive reference models
 * (`test/helpers/random-authz.ts`) on random schemas and data.
 *
 * A failure prints fast-check's seed and path and the case as schema text plus tuples. To replay:
 *   FC_SEED=<seed> FC_PATH=<path> npx vitest run test/unit/adapters/embedded-authz/evaluator-properties.test.ts
 * FC_NUM_RUNS=<n> overrides every property's number of runs (a longer soak than the default budget).
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  createEmbeddedAuthorizer,
  type EmbeddedAuthorizerOptions,
} from "../../../../src/adapters/embedded-authz/embedded-authorizer.ts";
import type { CheckRequest } from "../../../../src/core/authz-model.ts";
import { isAppError } from "../../../../src/core/errors.ts";
import { lookupAllResources, lookupAllSubjects } from "../../../../src/core/lookup-all.ts";
import { parseEntity, parseSubject, parseTuple } from "../../../../src/core/permify-notation.ts";
import {
  type Authorizer,
  type CheckOutcome,
  checkFailure,
  isCheckFailure,
  outcomeName,
} from "../../../../src/ports/authorizer.ts";
import { expectAppError } from "../../../helpers/errors.ts";
import { runParameters } from "../../../helpers/fast-check.ts";
import {
  ALGEBRA_RELATIONS,
  type AlgebraData,
  type AuthzCase,
  algebraCase,
  algebraDataArb,
  checkToText,
  type ExpectedCheck,
  type Expr,
  exclusion,
  expectedLookups,
  expectedSubjectLookups,
  folderCaseArb,
  GROUP_SCHEMA,
  groupCaseArb,
  intersection,
  leftDeep,
  letters,
  operatorArb,
  type PermissionDef,
  printFull,
  printMinimal,
  randomPermissionsArb,
  ref,
  rightDeep,
  union,
} from "../../../helpers/random-authz.ts";

async function withCase<T>(
  c: AuthzCase,
  body: (authorizer: Authorizer) => Promise<T>,
  options: EmbeddedAuthorizerOptions = {},
): Promise<T> {
  const authorizer = await createEmbeddedAuthorizer(options);
  try {
    await authorizer.writeSchema(c.schema);
    await authorizer.writeData({ tuples: c.tuples.map(parseTuple) });
    return await body(authorizer);
  } finally {
    await authorizer.close();
  }
}

function toRequest(check: Omit<ExpectedCheck, "expected">): CheckRequest {
  return {
    entity: parseEntity(check.entity),
    permission: check.permission,
    subject: parseSubject(check.subject),
  };
}

/** Every check of the case, in order, as the evaluator answers it. */
async function checkAll(authorizer: Authorizer, checks: readonly ExpectedCheck[]): Promise<boolean[]> {
  const results: boolean[] = [];
  for (const check of checks) results.push(await authorizer.check(toRequest(check)));
  return results;
}

async function expectChecksMatch(authorizer: Authorizer, c: AuthzCase): Promise<void> {
  const results = await checkAll(authorizer, c.checks);
  c.checks.forEach((check, i) => {
    expect(results[i], checkToText(check)).toBe(check.expected);
  });
}

/** The answers for one doc/user of an algebra case, by permission name. */
function answersFor(
  c: AuthzCase,
  results: readonly boolean[],
  doc: number,
  user: number,
): Map<string, boolean> {
  const answers = new Map<string, boolean>();
  c.checks.forEach((check, i) => {
    if (check.entity === `doc:d${doc}` && check.subject === `user:u${user}`)
      answers.set(check.permission, results[i] as boolean);
  });
  return answers;
}

const holds = (data: AlgebraData, doc: number, user: number, relation: string): boolean =>
  data.grants.some((g) => g.doc === doc && g.user === user && g.relation === relation);

describe("embedded evaluator: union, intersection, exclusion", () => {
  test("or, and and not follow their truth tables", async () => {
    const permissions: PermissionDef[] = [
      { name: "either", expr: union(ref("a"), ref("b")) },
      { name: "both", expr: intersection(ref("a"), ref("b")) },
      { name: "only_a", expr: exclusion(ref("a"), ref("b")) },
      { name: "self_excluded", expr: exclusion(ref("a"), ref("a")) },
    ];
    await fc.assert(
      fc.asyncProperty(algebraDataArb(), async (data) => {
        const c = algebraCase("truth-tables", permissions, data);
        await withCase(c, async (authorizer) => {
          const results = await checkAll(authorizer, c.checks);
          for (let doc = 0; doc < data.docs; doc++) {
            for (let user = 0; user < data.users; user++) {
              const a = holds(data, doc, user, "a");
              const b = holds(data, doc, user, "b");
              const got = answersFor(c, results, doc, user);
              const where = `doc:d${doc} user:u${user} a=${a} b=${b}`;
              expect(got.get("either"), `either ${where}`).toBe(a || b);
              expect(got.get("both"), `both ${where}`).toBe(a && b);
              expect(got.get("only_a"), `only_a ${where}`).toBe(a && !b);
              expect(got.get("self_excluded"), `self_excluded ${where}`).toBe(false);
            }
          }
        });
      }),
      runParameters(100),
    );
  });

  const [a, b, c] = [ref("a"), ref("b"), ref("c")];
  const laws: readonly (readonly [string, Expr, Expr])[] = [
    ["or commutes", union(a, b), union(b, a)],
    ["and commutes", intersection(a, b), intersection(b, a)],
    ["or is idempotent", union(a, a), a],
    ["and is idempotent", intersection(a, a), a],
    ["or associates", union(union(a, b), c), union(a, union(b, c))],
    ["and associates", intersection(intersection(a, b), c), intersection(a, intersection(b, c))],
    ["excluding a union excludes each", exclusion(a, union(b, c)), exclusion(exclusion(a, b), c)],
    [
      "excluding an intersection excludes either",
      exclusion(a, intersection(b, c)),
      union(exclusion(a, b), exclusion(a, c)),
    ],
    [
      "exclusion distributes over a union on the left",
      exclusion(union(a, b), c),
      union(exclusion(a, c), exclusion(b, c)),
    ],
    [
      "intersection commutes with exclusion",
      intersection(a, exclusion(b, c)),
      exclusion(intersection(a, b), c),
    ],
    ["and distributes over or", intersection(a, union(b, c)), union(intersection(a, b), intersection(a, c))],
    ["or distributes over and", union(a, intersection(b, c)), intersection(union(a, b), union(a, c))],
    ["or absorbs and", union(a, intersection(a, b)), a],
    ["and absorbs or", intersection(a, union(a, b)), a],
    ["a splits by b", union(exclusion(a, b), intersection(a, b)), a],
  ];

  test("algebraic laws hold, each side matching the truth-table reference", async () => {
    const permissions = laws.flatMap(([, lhs, rhs], i) => [
      { name: `law_${letters(i)}_lhs`, expr: lhs, text: printFull(lhs) },
      { name: `law_${letters(i)}_rhs`, expr: rhs, text: printFull(rhs) },
    ]);
    await fc.assert(
      fc.asyncProperty(algebraDataArb(), async (data) => {
        const kase = algebraCase("laws", permissions, data);
        await withCase(kase, async (authorizer) => {
          const results = await checkAll(authorizer, kase.checks);
          kase.checks.forEach((check, i) => {
            expect(results[i], checkToText(check)).toBe(check.expected);
          });
          for (let doc = 0; doc < data.docs; doc++) {
            for (let user = 0; user < data.users; user++) {
              const got = answersFor(kase, results, doc, user);
              laws.forEach(([law], i) => {
                expect(got.get(`law_${letters(i)}_lhs`), `${law} on doc:d${doc} user:u${user}`).toBe(
                  got.get(`law_${letters(i)}_rhs`),
                );
              });
            }
          }
        });
      }),
      runParameters(100),
    );
  });

  test("mixed operators without parentheses group left to right", async () => {
    const chain = fc.integer({ min: 2, max: 4 }).chain((operators) =>
      fc.tuple(
        fc.array(fc.constantFrom(...ALGEBRA_RELATIONS), {
          minLength: operators + 1,
          maxLength: operators + 1,
        }),
        fc.array(operatorArb, { minLength: operators, maxLength: operators }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(chain, algebraDataArb(), async ([names, ops], data) => {
        const leaves = names.map(ref);
        const left = leftDeep(leaves, ops);
        const right = rightDeep(leaves, ops);
        const flat = printMinimal(left);
        expect(flat).not.toContain("(");
        const permissions: PermissionDef[] = [
          { name: "flat", expr: left, text: flat },
          { name: "grouped_left", expr: left, text: printFull(left) },
          { name: "grouped_right", expr: right, text: printFull(right) },
        ];
        const c = algebraCase("left-to-right", permissions, data);
        await withCase(c, async (authorizer) => {
          const results = await checkAll(authorizer, c.checks);
          c.checks.forEach((check, i) => {
            expect(results[i], checkToText(check)).toBe(check.expected);
          });
        });
      }),
      runParameters(150),
    );
  });

  test("random expressions, with minimal and with full parentheses, match the reference", async () => {
    await fc.assert(
      fc.asyncProperty(
        randomPermissionsArb({ count: 4, depth: 3 }),
        algebraDataArb(),
        async (permissions, data) => {
          const c = algebraCase("random-expressions", permissions, data);
          await withCase(c, (authorizer) => expectChecksMatch(authorizer, c));
        },
      ),
      runParameters(150),
    );
  });

  describe("examples of left-to-right grouping", () => {
    const cases: readonly (readonly [string, string, boolean])[] = [
      ["a or b and c", "a", false],
      ["(a or b) and c", "a", false],
      ["a or (b and c)", "a", true],
      ["a and b or c", "c", true],
      ["a and (b or c)", "c", false],
      ["a not b or c", "c", true],
      ["a not (b or c)", "c", false],
      ["a or b not c", "c", false],
      ["a or b not c", "a", true],
    ];
    test.each(cases)("%s with only %s held is %s", async (expression, held, expected) => {
      const c: AuthzCase = {
        kind: "example",
        schema: `entity user {}\n\nentity doc {\n  relation a @user\n  relation b @user\n  relation c @user\n  permission p = ${expression}\n}\n`,
        tuples: [`doc:one#${held}@user:alice`],
        checks: [],
      };
      await withCase(c, async (authorizer) => {
        const allowed = await authorizer.check(
          toRequest({ entity: "doc:one", permission: "p", subject: "user:alice" }),
        );
        expect(allowed).toBe(expected);
      });
    });

    test("a prefix not does not parse", async () => {
      const authorizer = await createEmbeddedAuthorizer();
      try {
        await expectAppError(
          authorizer.writeSchema(
            "entity user {}\n\nentity doc {\n  relation a @user\n  permission p = not a\n}\n",
          ),
          "SCHEMA_INVALID",
        );
      } finally {
        await authorizer.close();
      }
    });
  });
});

describe("embedded evaluator: relation walks and usersets", () => {
  test("rel.perm over a forest of folders equals reachability", async () => {
    await fc.assert(
      fc.asyncProperty(folderCaseArb({ folders: 12, users: 3, maxParents: 1 }), async (c) => {
        await withCase(c, (authorizer) => expectChecksMatch(authorizer, c));
      }),
      runParameters(100),
    );
  });

  test("rel.perm over folders with several parents (a DAG) equals reachability", async () => {
    await fc.assert(
      fc.asyncProperty(folderCaseArb({ folders: 10, users: 3, maxParents: 3 }), async (c) => {
        await withCase(c, (authorizer) => expectChecksMatch(authorizer, c));
      }),
      runParameters(60),
    );
  });

  test("rel.perm ignores the subject relation of the walked tuple", async () => {
    // `team.admin` over `doc:d#team@group:g#member` checks `group:g#admin`, not `admin` on g's members.
    const c: AuthzCase = {
      kind: "walk-ignores-subject-relation",
      schema: [
        "entity user {}",
        "entity org {\n  relation admin @user\n}",
        "entity group {\n  relation member @org\n  relation admin @user\n}",
        "entity doc {\n  relation team @group#member\n  permission manage = team.admin\n}",
        "",
      ].join("\n"),
      tuples: [
        "doc:d#team@group:g#member",
        "group:g#admin@user:alice",
        "group:g#member@org:o",
        "org:o#admin@user:carol",
      ],
      checks: [
        { entity: "doc:d", permission: "manage", subject: "user:alice", expected: true },
        { entity: "doc:d", permission: "manage", subject: "user:carol", expected: false },
      ],
    };
    await withCase(c, (authorizer) => expectChecksMatch(authorizer, c));
  });

  test("nested group#member usersets equal reachability", async () => {
    await fc.assert(
      fc.asyncProperty(groupCaseArb({ groups: 6, users: 3, docs: 3 }), async (c) => {
        await withCase(c, (authorizer) => expectChecksMatch(authorizer, c));
      }),
      runParameters(100),
    );
  });
});

const anyAcyclicCase: fc.Arbitrary<AuthzCase> = fc.oneof(
  fc
    .tuple(randomPermissionsArb({ count: 3, depth: 2 }), algebraDataArb({ docs: 4, users: 3 }))
    .map(([permissions, data]) => algebraCase("random-expressions", permissions, data)),
  folderCaseArb({ folders: 10, users: 3, maxParents: 2 }),
  groupCaseArb({ groups: 5, users: 3, docs: 4 }),
);

const expectedOutcome = (allowed: boolean): CheckOutcome => (allowed ? "allowed" : "denied");

describe("embedded evaluator: lookups and bulk checks agree with check", () => {
  test("lookupResources, paged to the end, lists exactly the entities check allows", async () => {
    const pageSize = fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(anyAcyclicCase, pageSize, async (c, size) => {
        await withCase(c, async (authorizer) => {
          const results = await checkAll(authorizer, c.checks);
          const allowedKeys = new Set(c.checks.filter((_, i) => results[i]).map(checkToText));
          for (const lookup of expectedLookups(c)) {
            const request = {
              entityType: lookup.entityType,
              permission: lookup.permission,
              subject: parseSubject(lookup.subject),
              ...(size === undefined ? {} : { pageSize: size }),
            };
            const where = `lookupResources ${lookup.entityType}#${lookup.permission}@${lookup.subject} pageSize=${size}`;
            const ids = await lookupAllResources(authorizer, request);
            const byCheck = c.checks
              .filter(
                (q) =>
                  q.entity.startsWith(`${lookup.entityType}:`) &&
                  q.permission === lookup.permission &&
                  q.subject === lookup.subject &&
                  allowedKeys.has(checkToText(q)),
              )
              .map((q) => parseEntity(q.entity).id)
              .sort();
            expect(ids, where).toEqual(byCheck);
            expect(ids, `${where} vs reference`).toEqual(lookup.ids);

            if (size !== undefined) {
              // Page by hand too: every page within the size, ids strictly ascending across pages.
              const seen: string[] = [];
              let cursor: string | undefined;
              for (let page = 0; page <= ids.length + 1; page++) {
                const result = await authorizer.lookupResources({
                  ...request,
                  ...(cursor ? { cursor } : {}),
                });
                expect(result.ids.length, where).toBeLessThanOrEqual(size);
                seen.push(...result.ids);
                cursor = result.nextCursor;
                if (cursor === undefined) break;
              }
              expect(cursor, `${where} never ended`).toBeUndefined();
              expect(seen, where).toEqual(ids);
            }
          }
        });
      }),
      runParameters(100),
    );
  });

  test("lookupSubjects, paged to the end, lists exactly the users check allows", async () => {
    const pageSize = fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(anyAcyclicCase, pageSize, async (c, size) => {
        await withCase(c, async (authorizer) => {
          for (const lookup of expectedSubjectLookups(c)) {
            const ids = await lookupAllSubjects(authorizer, {
              entity: parseEntity(lookup.entity),
              permission: lookup.permission,
              subjectType: lookup.subjectType,
              ...(size === undefined ? {} : { pageSize: size }),
            });
            expect(
              ids,
              `lookupSubjects ${lookup.entity}#${lookup.permission}@${lookup.subjectType} pageSize=${size}`,
            ).toEqual(lookup.ids);
          }
        });
      }),
      runParameters(60),
    );
  });

  test("checkMany answers each item as check does, in order", async () => {
    await fc.assert(
      fc.asyncProperty(anyAcyclicCase, async (c) => {
        await withCase(c, async (authorizer) => {
          const results = await checkAll(authorizer, c.checks);
          for (let start = 0; start < c.checks.length; start += 100) {
            const batch = c.checks.slice(start, start + 100);
            const outcomes = await authorizer.checkMany(batch.map(toRequest));
            expect(outcomes).toHaveLength(batch.length);
            batch.forEach((check, i) => {
              expect(outcomes[i], checkToText(check)).toBe(expectedOutcome(results[start + i] as boolean));
            });
          }
        });
      }),
      runParameters(60),
    );
  });
});

describe("embedded evaluator: a small depth limit", () => {
  test("fails some checks but never changes a decision; bulk checks and lookups agree", async () => {
    const maxDepth = fc.integer({ min: 1, max: 6 });
    const pageSize = fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(anyAcyclicCase, maxDepth, pageSize, async (c, depth, size) => {
        await withCase(
          c,
          async (authorizer) => {
            const answers: (CheckOutcome | undefined)[] = [];
            for (const check of c.checks) {
              const where = `${checkToText(check)} at maxDepth ${depth}`;
              const answer = await authorizer.check(toRequest(check)).then(
                (allowed): CheckOutcome => {
                  // Running out of depth may only turn a decision into an error, never into the other decision.
                  expect(allowed, where).toBe(check.expected);
                  return expectedOutcome(allowed);
                },
                (error: unknown): CheckOutcome => {
                  expect(isAppError(error, "DEPTH_EXCEEDED"), `${where} failed with ${String(error)}`).toBe(
                    true,
                  );
                  return checkFailure(error);
                },
              );
              answers.push(answer);
            }

            // Outcomes memoised within one bulk call must not depend on the order the items come in.
            for (const order of [c.checks, [...c.checks].reverse()]) {
              for (let start = 0; start < order.length; start += 100) {
                const batch = order.slice(start, start + 100);
                const outcomes = await authorizer.checkMany(batch.map(toRequest));
                batch.forEach((check, i) => {
                  expect(
                    outcomeName(outcomes[i] as CheckOutcome),
                    `checkMany ${checkToText(check)} at maxDepth ${depth}`,
                  ).toBe(outcomeName(answers[c.checks.indexOf(check)] as CheckOutcome));
                });
              }
            }

            for (const lookup of expectedLookups(c)) {
              const where = `lookupResources ${lookup.entityType}#${lookup.permission}@${lookup.subject} at maxDepth ${depth}`;
              const listed = await lookupAllResources(authorizer, {
                entityType: lookup.entityType,
                permission: lookup.permission,
                subject: parseSubject(lookup.subject),
                ...(size === undefined ? {} : { pageSize: size }),
              }).catch((error: unknown) => error);
              const anyFailed = c.checks.some(
                (q, i) =>
                  isCheckFailure(answers[i]) &&
                  q.entity.startsWith(`${lookup.entityType}:`) &&
                  q.permission === lookup.permission &&
                  q.subject === lookup.subject,
              );
              if (Array.isArray(listed)) {
                // A list is complete or it is an error: never one that silently lacks an undecided entity.
                expect(listed, where).toEqual(lookup.ids);
              } else {
                expect(isAppError(listed, "DEPTH_EXCEEDED"), `${where} failed with ${String(listed)}`).toBe(
                  true,
                );
                expect(anyFailed, `${where} failed although every check decided`).toBe(true);
              }
            }
          },
          { maxDepth: depth },
        );
      }),
      runParameters(100),
    );
  });
});

type Settled = { readonly kind: "allowed" | "denied" } | { readonly kind: "error"; readonly error: unknown };

const SETTLE_WITHIN_MS = 2_000;

/**
 * Settles a check, measuring it: a synchronous loop inside the evaluator would starve a timer, so the
 * elapsed time is asserted after the fact as well as raced against a timer for asynchronous hangs.
 */
async function settle(
  authorizer: Authorizer,
  check: ExpectedCheck,
): Promise<Settled & { readonly ms: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Settled>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "error", error: new Error("timed out") }), SETTLE_WITHIN_MS * 2);
  });
  const answer = authorizer.check(toRequest(check)).then(
    (allowed): Settled => ({ kind: allowed ? "allowed" : "denied" }),
    (error: unknown): Settled => ({ kind: "error", error }),
  );
  const settled = await Promise.race([answer, timeout]);
  clearTimeout(timer);
  return { ...settled, ms: performance.now() - started };
}

describe("embedded evaluator: cyclic group membership", () => {
  test("a densely cyclic group graph settles quickly, with and without a path", async () => {
    // Every group contains every other: the simple paths number in the hundreds of thousands, while
    // Permify gives up after `depth` levels. Nine groups is enough to show exponential work.
    const groups = 9;
    const tuples: string[] = ["group:g8#member@user:member"];
    for (let i = 0; i < groups; i++) {
      for (let j = 0; j < groups; j++) if (i !== j) tuples.push(`group:g${i}#member@group:g${j}#member`);
    }
    const c: AuthzCase = {
      kind: "groups-complete-digraph",
      schema: GROUP_SCHEMA,
      tuples,
      checks: [
        { entity: "group:g0", permission: "member", subject: "user:member", expected: true },
        { entity: "group:g0", permission: "member", subject: "user:outsider", expected: "not-allowed" },
      ],
    };
    await withCase(c, async (authorizer) => {
      for (const check of c.checks) {
        const got = await settle(authorizer, check);
        const where = checkToText(check);
        expect(got.ms, `${where} took ${Math.round(got.ms)} ms`).toBeLessThan(SETTLE_WITHIN_MS);
        expect(got.kind, where).toBe(check.expected === true ? "allowed" : "error");
      }
    });
  });

  test("every check settles; a path allows, no path never allows", async () => {
    await fc.assert(
      fc.asyncProperty(groupCaseArb({ groups: 6, users: 3, docs: 3, cyclic: true }), async (c) => {
        await withCase(c, async (authorizer) => {
          const settled: Settled[] = [];
          for (const check of c.checks) {
            const where = checkToText(check);
            const got = await settle(authorizer, check);
            settled.push(got);
            expect(got.ms, `${where} took ${Math.round(got.ms)} ms`).toBeLessThan(SETTLE_WITHIN_MS);
            if (got.kind === "error") {
              expect(
                isAppError(got.error, "DEPTH_EXCEEDED"),
                `${where} failed with ${String(got.error)}`,
              ).toBe(true);
            }
            if (check.expected === true) expect(got.kind, where).toBe("allowed");
            else if (check.expected === false) expect(got.kind, where).toBe("denied");
            else expect(got.kind, where).not.toBe("allowed");
          }

          // The same items in bulk: a check that failed is a "failed" item, never folded into "denied".
          const outcomes = await authorizer.checkMany(c.checks.map(toRequest));
          c.checks.forEach((check, i) => {
            const single = settled[i]?.kind;
            expect(outcomeName(outcomes[i] as CheckOutcome), `checkMany ${checkToText(check)}`).toBe(
              single === "error" ? "failed" : single,
            );
          });

          // A lookup may fail on a cycle, but a list it returns is exact: no missing id, no unproven one.
          for (let u = 0; u < 3; u++) {
            const subject = `user:u${u}`;
            const allowed = c.checks
              .filter(
                (q) =>
                  q.entity.startsWith("doc:") &&
                  q.permission === "view" &&
                  q.subject === subject &&
                  q.expected === true,
              )
              .map((q) => parseEntity(q.entity).id)
              .sort();
            const listed = await lookupAllResources(authorizer, {
              entityType: "doc",
              permission: "view",
              subject: parseSubject(subject),
              pageSize: 2,
            }).catch((error: unknown) => error);
            if (Array.isArray(listed)) expect(listed, `lookupResources doc#view@${subject}`).toEqual(allowed);
            else
              expect(
                isAppError(listed, "DEPTH_EXCEEDED"),
                `lookupResources failed with ${String(listed)}`,
              ).toBe(true);
          }
        });
      }),
      runParameters(100),
    );
  });
});
