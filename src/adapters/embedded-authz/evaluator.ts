/**
 * Evaluates checks and lookups over a compiled Permify schema, reproducing Permify's check engine
 * (`internal/engines/check.go`, v1.7.3):
 * - every nested evaluation (a permission or relation of the same entity, a walk's target, a userset
 *   subject, a boolean attribute, a rule call) costs one unit of depth; going below zero is a
 *   `DEPTH_EXCEEDED` error, never a denial;
 * - a relation matches its direct subjects, and recursively checks userset subjects (`team:x#member`);
 * - `rel.name` checks `name` on each subject of `rel`, ignoring the tuple's subject relation;
 * - a missing boolean attribute denies; missing rule arguments take their type's empty value.
 *
 * Where Permify races concurrent branches (an error in one and an ALLOWED in another can come back in
 * either order), this evaluator is deterministic: it returns the decision the defined branches force
 * (three-valued logic) and an error only when the decision depends on the failed branch. A cycle in the
 * data is reported as the depth error Permify would reach by going round it. Cyclic failures are cached
 * per stack frame (as in Tarjan's algorithm), so dense cycles cost polynomial, not exponential, time.
 */

import type { CompiledSchema, EntityDefinition, PermissionNode } from "../../authz-schema/schema-compiler.ts";
import type { AttributeValue, Entity, RequestContext, Subject } from "../../core/authz-model.ts";
import { AppError } from "../../core/errors.ts";
import { overlayContext, type RelationshipView } from "./relationship-store.ts";

const DENIED = 0;
const ALLOWED = 1;
const FAILED = 2;
type Decision = typeof DENIED | typeof ALLOWED | typeof FAILED;

/**
 * A failure caused by going round a cycle is an assumption about checks still in progress, which are
 * identified by their position on the evaluation stack. `low` and `high` are the lowest and highest such
 * positions the outcome assumed; `CLEAN` outcomes assumed nothing and hold for the whole session. Only
 * failures ever carry assumptions (a decided branch never depends on an undecided one).
 */
interface Outcome {
  readonly decision: Decision;
  /** Levels of depth the decision needed; a cached outcome is reused only with at least this much. */
  readonly needed: number;
  readonly low: number;
  readonly high: number;
  readonly error?: AppError;
}

const CLEAN_LOW = Number.POSITIVE_INFINITY;
const CLEAN_HIGH = -1;
/** A failure for lack of depth depends on the depth left, not on the stack: `low` below every frame. */
const DEPTH_LIMITED = -1;

/**
 * Every outcome is built here, with all five fields in one order, so that V8 sees one object shape (the
 * evaluator's inner loop runs millions of times in a large lookup).
 */
function outcomeOf(
  decision: Decision,
  needed: number,
  low: number,
  high: number,
  error: AppError | undefined,
): Outcome {
  return { decision, needed, low, high, error };
}

/** Clean decisions (no failure, no assumption) by `needed`, shared so that most outcomes cost no allocation. */
const CLEAN_DECISIONS: readonly (readonly Outcome[])[] = [DENIED, ALLOWED].map((decision) =>
  Array.from({ length: 128 }, (_, needed) =>
    outcomeOf(decision as Decision, needed, CLEAN_LOW, CLEAN_HIGH, undefined),
  ),
);

/** `outcome` with no assumptions left and `needed` levels of depth. */
function cleanOutcome(outcome: Outcome, needed: number): Outcome {
  if (outcome.decision !== FAILED && outcome.error === undefined) {
    const shared = CLEAN_DECISIONS[outcome.decision]?.[needed];
    if (shared) return shared;
  }
  return outcomeOf(outcome.decision, needed, CLEAN_LOW, CLEAN_HIGH, outcome.error);
}

const NO_DEPENDENTS: readonly string[] = [];

const deniedLeaf: Outcome = outcomeOf(DENIED, 0, CLEAN_LOW, CLEAN_HIGH, undefined);
/** A relation answered at one level of depth, like any other nested invocation. */
const allowedRelation: Outcome = outcomeOf(ALLOWED, 1, CLEAN_LOW, CLEAN_HIGH, undefined);
const deniedRelation: Outcome = outcomeOf(DENIED, 1, CLEAN_LOW, CLEAN_HIGH, undefined);
const allowedLeaf: Outcome = outcomeOf(ALLOWED, 0, CLEAN_LOW, CLEAN_HIGH, undefined);

/** Bounds the work of one check so that adversarial data cannot stall the process. */
const MAX_EVALUATIONS_PER_CHECK = 500_000;

export interface EvaluatorOptions {
  readonly maxDepth: number;
}

/**
 * One evaluation session: one subject's view of the data under one request context. Outcomes are
 * memoised across the checks of the session (a bulk check or a lookup), which is what makes lookups of
 * thousands of documents in shared collections cheap.
 */
export class EvaluationSession {
  private readonly view: RelationshipView;
  private readonly data: Readonly<Record<string, unknown>>;
  /*
   * A check never changes its subject on the way down (every nested evaluation asks about the same
   * subject), so state is kept per subject and keyed within it by `type:id#name` alone: shorter keys are
   * most of what a memo hit costs.
   */
  /** Per subject, outcomes that assumed nothing: valid for the whole session (given at least `needed` depth). */
  private readonly memoBySubject = new Map<string, Map<string, Outcome>>();
  /** Per subject, the greatest depth at which a key failed for lack of depth: with no more it fails again. */
  private readonly depthFailuresBySubject = new Map<string, Map<string, number>>();
  /** The maps of the current check's subject. */
  private subject: Subject | undefined;
  private subjectKey: string | undefined;
  private memo = new Map<string, Outcome>();
  private depthFailures = new Map<string, number>();
  /** Checks in progress, by key, with their stack position. Empty between checks. */
  private readonly stackPositions = new Map<string, number>();
  /**
   * Per stack frame, the keys of `frameMemo` whose assumptions end when that frame completes (created
   * on the first such key: most frames never get one). Empty between checks.
   */
  private readonly frames: (string[] | undefined)[] = [];
  /** Failures that assumed in-progress checks: reusable only while those checks are still in progress. */
  private readonly frameMemo = new Map<string, Outcome>();
  private evaluations = 0;

  constructor(
    private readonly schema: CompiledSchema,
    base: RelationshipView,
    context: RequestContext | undefined,
    private readonly options: EvaluatorOptions,
  ) {
    this.view = overlayContext(base, context?.tuples, context?.attributes);
    this.data = context?.data ?? {};
  }

  /** Resolves to true or false, or throws the error the decision depended on. */
  check(entity: Entity, permission: string, subject: Subject): boolean {
    this.evaluations = 0;
    const subjectKey =
      subject === this.subject && this.subjectKey !== undefined
        ? this.subjectKey
        : `${subject.type}:${subject.id}#${subject.relation ?? ""}`;
    this.subject = subject;
    if (subjectKey !== this.subjectKey) {
      if (this.stackPositions.size > 0 || this.frameMemo.size > 0 || this.frames.length > 0) {
        // Cannot happen (a check leaves nothing in progress), but per-check keys omit the subject, so
        // state of another subject's check must never be read as this one's.
        this.forgetInProgress();
      }
      this.subjectKey = subjectKey;
      this.memo = getOrCreate(this.memoBySubject, subjectKey, () => new Map<string, Outcome>());
      this.depthFailures = getOrCreate(
        this.depthFailuresBySubject,
        subjectKey,
        () => new Map<string, number>(),
      );
    }
    let outcome: Outcome;
    try {
      outcome = this.invoke(entity.type, entity.id, permission, subject, this.options.maxDepth);
    } catch (error) {
      // An aborted check leaves assumptions of frames that no longer exist: forget them.
      this.forgetInProgress();
      throw error;
    }
    if (outcome.decision === FAILED) {
      throw outcome.error ?? new AppError("INTERNAL", "check failed without a cause");
    }
    return outcome.decision === ALLOWED;
  }

  get relationships(): RelationshipView {
    return this.view;
  }

  private forgetInProgress(): void {
    this.frameMemo.clear();
    this.frames.length = 0;
    this.stackPositions.clear();
  }

  private outOfDepth(): Outcome {
    const error = new AppError(
      "DEPTH_EXCEEDED",
      `check needed more than the allowed depth (${this.options.maxDepth})`,
    );
    return outcomeOf(FAILED, 0, DEPTH_LIMITED, DEPTH_LIMITED, error);
  }

  private invoke(type: string, id: string, name: string, subject: Subject, depth: number): Outcome {
    if (depth < 0) {
      return this.outOfDepth();
    }
    if (++this.evaluations > MAX_EVALUATIONS_PER_CHECK) {
      throw new AppError(
        "DEPTH_EXCEEDED",
        "check exceeded the evaluation budget (the relationship graph is too deep or cyclic)",
      );
    }
    // Permify: a query for entity#permission equal to the subject itself is allowed (userset self-match).
    if (type === subject.type && id === subject.id && name === (subject.relation ?? "")) return allowedLeaf;

    const definition = this.schema.entities.get(type);
    if (!definition) {
      return failed(new AppError("DATA_INVALID", `entity type "${type}" is not defined in the schema`));
    }
    const kind = definition.members.get(name);
    if (kind === "attribute") return this.checkAttribute(definition, id, name);
    if (kind === undefined) return this.checkRuleByName(definition, name);

    // A relation without userset subjects cannot recurse: the tuple lookup is the whole answer.
    if (kind === "relation" && !this.view.hasUsersets(type, id, name)) {
      return this.view.hasTupleOf(type, id, name, subject) ? allowedRelation : deniedRelation;
    }

    const key = `${type}:${id}#${name}`;
    const cached = this.memo.get(key);
    if (cached && depth >= cached.needed) return cached;
    const assumed = this.frameMemo.size === 0 ? undefined : this.frameMemo.get(key);
    if (assumed) return assumed;
    const position = this.stackPositions.get(key);
    if (position !== undefined) {
      // Going round a cycle: Permify keeps descending until the depth runs out.
      return outcomeOf(
        FAILED,
        0,
        position,
        position,
        new AppError("DEPTH_EXCEEDED", `cycle in the relationships through ${type}:${id}#${name}`),
      );
    }
    if (this.depthFailures.size > 0 && (this.depthFailures.get(key) ?? -1) >= depth) {
      return this.outOfDepth();
    }

    const own = this.frames.length;
    this.stackPositions.set(key, own);
    this.frames.push(undefined);
    let outcome: Outcome;
    let dependents: readonly string[] = NO_DEPENDENTS;
    try {
      outcome =
        kind === "relation"
          ? this.checkRelation(type, id, name, subject, depth - 1)
          : this.evaluateNode(
              definition,
              id,
              definition.permissions.get(name) as PermissionNode,
              subject,
              depth - 1,
            );
    } finally {
      this.stackPositions.delete(key);
      dependents = this.frames.pop() ?? NO_DEPENDENTS;
    }
    const result = this.settle(outcome, own);
    this.remember(key, result, depth);
    this.resolveDependents(dependents, result, own);
    return result;
  }

  /**
   * An outcome that assumed only this check itself is final: the check's value, computed with itself
   * assumed undecided, is its least fixed point (a derivation never needs to go through itself).
   */
  private settle(outcome: Outcome, own: number): Outcome {
    const needed = outcome.needed + 1;
    if (outcome.low === own || outcome.low === CLEAN_LOW) return cleanOutcome(outcome, needed);
    // Assumptions below this frame remain; `high` may only move down (discarding early is always safe).
    return outcomeOf(outcome.decision, needed, outcome.low, Math.min(outcome.high, own - 1), outcome.error);
  }

  /**
   * Failures that assumed the check just completed (at `own`). If it is still undecided on assumptions
   * about checks below it, they live as long as those (as members of one strongly connected component
   * do in Tarjan's algorithm); if it settled as a failure, those that assumed nothing lower are final;
   * if it was decided, their assumption is void and they are dropped.
   */
  private resolveDependents(dependents: readonly string[], result: Outcome, own: number): void {
    if (result.decision === FAILED && result.low !== CLEAN_LOW && result.low !== DEPTH_LIMITED) {
      if (result.high >= 0 && result.high < this.frames.length) {
        this.frames[result.high] = [...(this.frames[result.high] ?? []), ...dependents];
      }
      return;
    }
    const settledFailure = result.decision === FAILED && result.low === CLEAN_LOW;
    for (const dependent of dependents) {
      const entry = this.frameMemo.get(dependent);
      this.frameMemo.delete(dependent);
      if (entry && settledFailure && entry.low >= own) {
        this.memo.set(dependent, outcomeOf(entry.decision, entry.needed, CLEAN_LOW, CLEAN_HIGH, entry.error));
      }
    }
  }

  private remember(key: string, result: Outcome, depth: number): void {
    if (result.low === CLEAN_LOW) {
      this.memo.set(key, result);
    } else if (result.low === DEPTH_LIMITED) {
      this.depthFailures.set(key, Math.max(depth, this.depthFailures.get(key) ?? -1));
    } else {
      this.frameMemo.set(key, result);
      if (result.high >= 0 && result.high < this.frames.length) {
        const frame = this.frames[result.high];
        if (frame) frame.push(key);
        else this.frames[result.high] = [key];
      }
    }
  }

  private checkRelation(
    type: string,
    id: string,
    relation: string,
    subject: Subject,
    depth: number,
  ): Outcome {
    if (this.view.hasTupleOf(type, id, relation, subject)) return allowedLeaf;
    let combined: Outcome = deniedLeaf;
    for (const userset of this.view.usersetsOf(type, id, relation)) {
      combined = orOutcome(
        combined,
        this.invoke(userset.type, userset.id, userset.relation as string, subject, depth),
      );
      if (combined.decision === ALLOWED) return combined;
    }
    return combined;
  }

  private evaluateNode(
    definition: EntityDefinition,
    id: string,
    node: PermissionNode,
    subject: Subject,
    depth: number,
  ): Outcome {
    switch (node.op) {
      case "union": {
        const left = this.evaluateNode(definition, id, node.left, subject, depth);
        if (left.decision === ALLOWED) return left;
        return orOutcome(left, this.evaluateNode(definition, id, node.right, subject, depth));
      }
      case "intersection": {
        const left = this.evaluateNode(definition, id, node.left, subject, depth);
        if (left.decision === DENIED) return left;
        return andOutcome(left, this.evaluateNode(definition, id, node.right, subject, depth));
      }
      case "exclusion": {
        const left = this.evaluateNode(definition, id, node.left, subject, depth);
        // Permify waits for the left side and returns its error as it is (checkExclusion). A failed left
        // side must stay a failure: as a denial, a `not` around this exclusion would turn it into an allow.
        if (left.decision !== ALLOWED) return left;
        const right = this.evaluateNode(definition, id, node.right, subject, depth);
        return andOutcome(left, negate(right));
      }
      case "computed":
        return this.invoke(definition.name, id, node.name, subject, depth);
      case "attribute":
        // Reading an attribute is a nested invocation in Permify, so it costs depth too.
        if (depth < 0) return this.invoke(definition.name, id, node.name, subject, depth);
        return bumpNeeded(this.checkAttribute(definition, id, node.name));
      case "walk": {
        let combined: Outcome = deniedLeaf;
        for (const target of this.view.subjectsOf(definition.name, id, node.relation)) {
          combined = orOutcome(combined, this.invoke(target.type, target.id, node.name, subject, depth));
          if (combined.decision === ALLOWED) return combined;
        }
        return combined;
      }
      case "call": {
        if (depth < 0) return this.invoke(definition.name, id, node.rule, subject, depth);
        return bumpNeeded(this.evaluateRule(definition, id, node.rule, node.attributes));
      }
    }
  }

  private checkAttribute(definition: EntityDefinition, id: string, name: string): Outcome {
    if (definition.attributes.get(name) !== "boolean") {
      return failed(
        new AppError("DATA_INVALID", `attribute "${name}" of "${definition.name}" is not boolean`),
      );
    }
    const value = this.view.attributeOf(definition.name, id, name);
    return value?.type === "boolean" && value.value ? allowedLeaf : deniedLeaf;
  }

  /** A "permission" that is neither a relation, a permission nor an attribute: Permify runs it as a rule. */
  private checkRuleByName(definition: EntityDefinition, name: string): Outcome {
    const rule = this.schema.rules.get(name);
    if (!rule) {
      return failed(
        new AppError(
          "BAD_REQUEST",
          `"${name}" is not a permission, relation, attribute or rule of "${definition.name}"`,
        ),
      );
    }
    // Called by name, a rule gets no arguments; Permify's CEL then fails on the unbound parameters.
    if (rule.params.size > 0)
      return failed(
        new AppError("BAD_REQUEST", `rule "${name}" needs its arguments; check a permission that calls it`),
      );
    return this.runRule(new Map(), rule.evaluate.bind(rule));
  }

  private evaluateRule(
    definition: EntityDefinition,
    id: string,
    ruleName: string,
    attributes: readonly string[],
  ): Outcome {
    const rule = this.schema.rules.get(ruleName);
    if (!rule) return failed(new AppError("INTERNAL", `rule "${ruleName}" is not compiled`));
    const values = new Map<string, AttributeValue>();
    for (const name of attributes) {
      const value = this.view.storedAttributeFirstOf(definition.name, id, name);
      if (value !== undefined) values.set(name, value);
    }
    return this.runRule(values, rule.evaluate.bind(rule));
  }

  private runRule(
    values: Map<string, AttributeValue>,
    evaluate: (values: Map<string, AttributeValue>, data: Readonly<Record<string, unknown>>) => boolean,
  ): Outcome {
    try {
      return evaluate(values, this.data) ? allowedLeaf : deniedLeaf;
    } catch (error) {
      return failed(
        error instanceof AppError
          ? error
          : new AppError("INTERNAL", "rule evaluation failed", { cause: error }),
      );
    }
  }
}

function failed(error: AppError): Outcome {
  return outcomeOf(FAILED, 0, CLEAN_LOW, CLEAN_HIGH, error);
}

function bumpNeeded(outcome: Outcome): Outcome {
  if (outcome.low === CLEAN_LOW) return cleanOutcome(outcome, outcome.needed + 1);
  return outcomeOf(outcome.decision, outcome.needed + 1, outcome.low, outcome.high, outcome.error);
}

function negate(outcome: Outcome): Outcome {
  if (outcome.decision === FAILED) return outcome;
  return outcomeOf(
    outcome.decision === ALLOWED ? DENIED : ALLOWED,
    outcome.needed,
    outcome.low,
    outcome.high,
    outcome.error,
  );
}

/** Three-valued OR: ALLOWED wins; otherwise a failure decides; DENIED only when both are DENIED. */
function orOutcome(a: Outcome, b: Outcome): Outcome {
  if (a.decision === ALLOWED) return a;
  if (b.decision === ALLOWED) return b;
  return merge(a.decision === FAILED ? a : b, a, b);
}

/** Three-valued AND: DENIED wins; otherwise a failure decides; ALLOWED only when both are ALLOWED. */
function andOutcome(a: Outcome, b: Outcome): Outcome {
  if (a.decision === DENIED) return a;
  if (b.decision === DENIED) return b;
  return merge(a.decision === FAILED ? a : b, a, b);
}

/** When both sides decided together, the result needs the depth of both and carries both's assumptions. */
function merge(chosen: Outcome, a: Outcome, b: Outcome): Outcome {
  const needed = Math.max(a.needed, b.needed);
  const low = Math.min(a.low, b.low);
  const high = Math.max(a.high, b.high);
  if (chosen.needed === needed && chosen.low === low && chosen.high === high) return chosen;
  return outcomeOf(chosen.decision, needed, low, high, chosen.error);
}

/**
 * Candidates for lookups, by entity type (type → ids): every entity reachable backwards from the subject
 * through any tuple, plus (when the schema reads attributes) every entity carrying attributes and what
 * points at it. This over-approximates the set of entities that can pass a check; each candidate is then
 * checked. Like Permify, an entity with no tuple and no attribute is never a candidate. One walk serves
 * every entity type, so lookups of documents and of sections for one subject can share it.
 */
export function reachableEntities(
  schema: CompiledSchema,
  view: RelationshipView,
  subject: Subject,
): Map<string, Set<string>> {
  const visited = new Map<string, Set<string>>();
  const pending: Entity[] = [];
  const visit = (entity: Entity): void => {
    let ids = visited.get(entity.type);
    if (!ids) {
      ids = new Set();
      visited.set(entity.type, ids);
    }
    if (ids.has(entity.id)) return;
    ids.add(entity.id);
    pending.push(entity);
  };
  visit({ type: subject.type, id: subject.id });
  if (schema.readsAttributes) {
    for (const type of schema.entities.keys()) {
      for (const id of view.entitiesWithAttributes(type)) visit({ type, id });
    }
  }
  for (let entity = pending.pop(); entity !== undefined; entity = pending.pop()) {
    for (const tuple of view.tuplesWithSubject(entity.type, entity.id)) visit(tuple.entity);
  }
  return visited;
}

/** Byte order, as Go compares strings (ids are ASCII by Permify's pattern). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function getOrCreate<V>(map: Map<string, V>, key: string, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}
