/**
 * Permify `rule` bodies are CEL over the rule's typed parameters and `context` (whose `data` is the
 * request's `context.data`). They run here on @bufbuild/cel, a conformance-tested CEL implementation
 * with the same standard library Permify's cel-go environment has (no extensions).
 */
import { CelScalar, type CelType, celEnv, isCelError, listType, parse, plan } from "@bufbuild/cel";
import type { AttributeType, AttributeValue } from "../core/authz-model.ts";
import { AppError } from "../core/errors.ts";
import { type Position, type RuleStatement, schemaError } from "./schema-parser.ts";

export interface CompiledRule {
  readonly name: string;
  readonly params: ReadonlyMap<string, AttributeType>;
  /** The body with runs of whitespace made one space: two rules with the same body compare equal. */
  readonly body: string;
  /**
   * Evaluates the rule. A missing attribute takes its type's empty value, as in Permify. Throws an
   * `AppError` when CEL fails (e.g. a missing `context.data` key) or yields a non-boolean: never a
   * silent deny, because Permify reports these as errors too.
   */
  evaluate(
    attributes: ReadonlyMap<string, AttributeValue>,
    contextData: Readonly<Record<string, unknown>>,
  ): boolean;
}

type CelExpr = ReturnType<typeof parse>["expr"] | undefined;

const BOOLEAN_FUNCTIONS = new Set([
  "_&&_",
  "_||_",
  "!_",
  "_==_",
  "_!=_",
  "_<_",
  "_<=_",
  "_>_",
  "_>=_",
  "@in",
  "startsWith",
  "endsWith",
  "contains",
  "matches",
  "@not_strictly_false",
]);

export function compileRule(
  statement: RuleStatement,
  params: ReadonlyMap<string, AttributeType>,
): CompiledRule {
  // Permify's schema lexer drops double quotes from a rule body before CEL sees it, so `tag == "b"` means
  // `tag == b` there (an error, or a comparison with another attribute): refuse what would not run alike.
  if (statement.body.includes('"')) {
    throw schemaError(
      statement.bodyAt,
      `rule "${statement.name}" uses a double-quoted string; Permify drops double quotes from rule bodies, ` +
        "so write strings in single quotes ('b')",
    );
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(statement.body);
  } catch (error) {
    throw schemaError(
      statement.bodyAt,
      `rule "${statement.name}" is not valid CEL: ${(error as Error).message}`,
      error,
    );
  }
  const root = parsed.expr;
  if (!root) throw schemaError(statement.bodyAt, `rule "${statement.name}" has an empty body`);
  checkIdentifiers(root, new Set([...params.keys(), "context"]), new Set(), statement);
  if (!producesBoolean(root, params)) {
    throw schemaError(
      statement.bodyAt,
      `rule "${statement.name}" must produce a boolean (Permify rejects rules whose result type is not bool)`,
    );
  }

  // Planned once per schema: evaluation then only binds values (lookups run a rule per candidate).
  const variables: Record<string, CelType> = { context: CelScalar.DYN };
  for (const [name, type] of params) variables[name] = celTypeOf(type);
  const program = plan(celEnv({ variables }), parsed);
  return {
    name: statement.name,
    params,
    body: statement.body.replace(/\s+/g, " ").trim(),
    evaluate(attributes, contextData) {
      const bindings: Record<string, unknown> = { context: { data: contextData } };
      for (const [name, type] of params) bindings[name] = toCel(attributes.get(name), type);
      const result = program(bindings as Parameters<typeof program>[0]);
      if (isCelError(result)) {
        throw new AppError("DATA_INVALID", `rule "${statement.name}" failed: ${result.message}`, {
          cause: result,
        });
      }
      if (typeof result !== "boolean") {
        throw new AppError("DATA_INVALID", `rule "${statement.name}" did not produce a boolean`);
      }
      return result;
    },
  };
}

/** Permify's CEL environment: the rule's parameters with their types, and `context` as dyn. */
function celTypeOf(type: AttributeType): CelType {
  const scalar = {
    boolean: CelScalar.BOOL,
    string: CelScalar.STRING,
    integer: CelScalar.INT,
    double: CelScalar.DOUBLE,
  }[type.replace("[]", "") as "boolean" | "string" | "integer" | "double"];
  return type.endsWith("[]") ? listType(scalar) : scalar;
}

/** CEL's types: `integer` is int (bigint here), `double` is double (number). Missing → empty value. */
function toCel(value: AttributeValue | undefined, type: AttributeType): unknown {
  if (value === undefined) {
    if (type.endsWith("[]")) return [];
    if (type === "boolean") return false;
    if (type === "string") return "";
    if (type === "integer") return 0n;
    return 0;
  }
  switch (value.type) {
    case "integer":
      return BigInt(value.value);
    case "integer[]":
      return value.value.map((n) => BigInt(n));
    default:
      return value.value;
  }
}

/** Every free identifier must be a parameter or `context`, as in Permify's CEL environment. */
function checkIdentifiers(
  expr: CelExpr,
  declared: Set<string>,
  bound: Set<string>,
  rule: RuleStatement,
): void {
  if (!expr) return;
  const kind = expr.exprKind;
  switch (kind.case) {
    case "identExpr":
      if (!declared.has(kind.value.name) && !bound.has(kind.value.name)) {
        throw schemaError(
          rule.bodyAt as Position,
          `rule "${rule.name}" uses "${kind.value.name}", which is neither a parameter nor "context"`,
        );
      }
      return;
    case "selectExpr":
      checkIdentifiers(kind.value.operand, declared, bound, rule);
      return;
    case "callExpr":
      checkIdentifiers(kind.value.target, declared, bound, rule);
      for (const arg of kind.value.args) checkIdentifiers(arg, declared, bound, rule);
      return;
    case "listExpr":
      for (const element of kind.value.elements) checkIdentifiers(element, declared, bound, rule);
      return;
    case "structExpr":
      for (const entry of kind.value.entries) {
        if (entry.keyKind.case === "mapKey") checkIdentifiers(entry.keyKind.value, declared, bound, rule);
        checkIdentifiers(entry.value, declared, bound, rule);
      }
      return;
    case "comprehensionExpr": {
      const c = kind.value;
      checkIdentifiers(c.iterRange, declared, bound, rule);
      checkIdentifiers(c.accuInit, declared, bound, rule);
      const inner = new Set([...bound, c.iterVar, c.accuVar]);
      if (c.iterVar2) inner.add(c.iterVar2);
      checkIdentifiers(c.loopCondition, declared, inner, rule);
      checkIdentifiers(c.loopStep, declared, inner, rule);
      checkIdentifiers(c.result, declared, inner, rule);
      return;
    }
    default:
      return;
  }
}

/**
 * A static stand-in for cel-go's output-type check: true when the expression is certainly boolean.
 * Anything of type `dyn` (e.g. a bare `context.data.flag`) is not, exactly as Permify's compiler says.
 */
function producesBoolean(expr: CelExpr, params: ReadonlyMap<string, AttributeType>): boolean {
  if (!expr) return false;
  const kind = expr.exprKind;
  switch (kind.case) {
    case "constExpr":
      return kind.value.constantKind.case === "boolValue";
    case "identExpr":
      return params.get(kind.value.name) === "boolean";
    case "selectExpr":
      return kind.value.testOnly; // has(x.y)
    case "callExpr": {
      const fn = kind.value.function;
      if (BOOLEAN_FUNCTIONS.has(fn)) return true;
      if (fn === "_?_:_") {
        const [, whenTrue, whenFalse] = kind.value.args;
        return producesBoolean(whenTrue, params) && producesBoolean(whenFalse, params);
      }
      return false;
    }
    case "comprehensionExpr": {
      const c = kind.value;
      const result = c.result;
      if (result?.exprKind.case === "identExpr" && result.exprKind.value.name === c.accuVar) {
        return (
          c.accuInit?.exprKind.case === "constExpr" &&
          c.accuInit.exprKind.value.constantKind.case === "boolValue"
        );
      }
      return producesBoolean(result, params);
    }
    default:
      return false;
  }
}
