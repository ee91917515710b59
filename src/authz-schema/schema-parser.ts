/**
 * A parser for Permify's schema language (v1.7), written to accept exactly what Permify's own parser
 * accepts: identifiers are letters and `_` only, newlines end statements, an expression may continue on
 * the next line only after `(`, `and`, `or`, `not` or `=`, and `and`/`or`/`not` share one precedence
 * and group left to right. Every error names the line and column.
 */
import { AppError } from "../core/errors.ts";

export interface Position {
  readonly line: number;
  readonly column: number;
}

export type Expression =
  | { readonly kind: "or" | "and" | "not"; readonly left: Expression; readonly right: Expression }
  /** `name`, or `relation.name` (a walk); more segments are refused by the compiler, as in Permify. */
  | { readonly kind: "reference"; readonly path: readonly string[]; readonly at: Position }
  | {
      readonly kind: "call";
      readonly rule: string;
      readonly args: readonly Argument[];
      readonly at: Position;
    };

export interface Argument {
  readonly path: readonly string[];
  readonly at: Position;
}

export interface TypeName {
  readonly name: string;
  readonly isArray: boolean;
  readonly at: Position;
}

export interface RelationStatement {
  readonly kind: "relation";
  readonly name: string;
  readonly at: Position;
  readonly subjects: readonly { readonly type: string; readonly relation?: string; readonly at: Position }[];
}

export interface AttributeStatement {
  readonly kind: "attribute";
  readonly name: string;
  readonly at: Position;
  readonly type: TypeName;
}

export interface PermissionStatement {
  readonly kind: "permission";
  readonly name: string;
  readonly at: Position;
  readonly expression: Expression;
}

export type MemberStatement = RelationStatement | AttributeStatement | PermissionStatement;

export interface EntityStatement {
  readonly kind: "entity";
  readonly name: string;
  readonly at: Position;
  readonly members: readonly MemberStatement[];
}

export interface RuleStatement {
  readonly kind: "rule";
  readonly name: string;
  readonly at: Position;
  readonly params: readonly { readonly name: string; readonly type: TypeName }[];
  /** The CEL body as written, comments removed. */
  readonly body: string;
  readonly bodyAt: Position;
}

export interface SchemaAst {
  readonly statements: readonly (EntityStatement | RuleStatement)[];
}

type TokenKind =
  | "ident"
  | "newline"
  | "eof"
  | "{"
  | "}"
  | "("
  | ")"
  | "["
  | "]"
  | "@"
  | "#"
  | "."
  | ","
  | "=";

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly at: Position;
  /** Offset in the source, used to cut out rule bodies verbatim. */
  readonly offset: number;
}

const OPERATORS = new Set(["and", "or", "not"]);
const SINGLE_CHAR_TOKENS = new Set(["{", "}", "(", ")", "[", "]", "@", "#", ".", ",", "="]);

export function schemaError(at: Position | undefined, reason: string, cause?: unknown): AppError {
  const where = at ? `line ${at.line}, column ${at.column}: ` : "";
  return new AppError(
    "SCHEMA_INVALID",
    `schema ${where}${reason}`,
    cause === undefined ? undefined : { cause },
  );
}

class Lexer {
  private offset = 0;
  private line = 1;
  private column = 1;

  constructor(private readonly source: string) {}

  next(): Token {
    this.skipBlanksAndComments();
    const at = { line: this.line, column: this.column };
    const offset = this.offset;
    const char = this.source[this.offset];
    if (char === undefined) return { kind: "eof", text: "", at, offset };
    if (char === "\n") {
      this.advance();
      return { kind: "newline", text: "\n", at, offset };
    }
    if (SINGLE_CHAR_TOKENS.has(char)) {
      this.advance();
      return { kind: char as TokenKind, text: char, at, offset };
    }
    if (/[A-Za-z_]/.test(char)) {
      let text = "";
      while (this.offset < this.source.length && /[A-Za-z_]/.test(this.source[this.offset] as string)) {
        text += this.source[this.offset];
        this.advance();
      }
      if (/[0-9]/.test(this.source[this.offset] ?? "")) {
        throw schemaError(
          { line: this.line, column: this.column },
          `digits are not allowed in names (Permify allows letters and _ only): "${text}${this.source[this.offset]}…"`,
        );
      }
      return { kind: "ident", text, at, offset };
    }
    throw schemaError(at, `unexpected character "${char}"`);
  }

  /** The raw text from `offset` up to (not including) the next `}`; the lexer resumes at that `}`. */
  rawUntilClosingBrace(fromOffset: number): { text: string; at: Position } {
    this.rewindTo(fromOffset);
    const at = { line: this.line, column: this.column };
    let text = "";
    while (this.offset < this.source.length) {
      if (this.source.startsWith("//", this.offset)) {
        while (this.offset < this.source.length && this.source[this.offset] !== "\n") this.advance();
        continue;
      }
      if (this.source.startsWith("/*", this.offset)) {
        this.skipBlockComment();
        continue;
      }
      const char = this.source[this.offset] as string;
      if (char === "}") return { text, at };
      text += char;
      this.advance();
    }
    throw schemaError(at, "rule body is not closed with }");
  }

  private rewindTo(offset: number): void {
    this.offset = 0;
    this.line = 1;
    this.column = 1;
    while (this.offset < offset) this.advance();
  }

  private skipBlanksAndComments(): void {
    for (;;) {
      const char = this.source[this.offset];
      if (char === " " || char === "\t" || char === "\r") {
        this.advance();
      } else if (this.source.startsWith("//", this.offset)) {
        while (this.offset < this.source.length && this.source[this.offset] !== "\n") this.advance();
      } else if (this.source.startsWith("/*", this.offset)) {
        this.skipBlockComment();
      } else {
        return;
      }
    }
  }

  private skipBlockComment(): void {
    const at = { line: this.line, column: this.column };
    const end = this.source.indexOf("*/", this.offset + 2);
    if (end < 0) throw schemaError(at, "comment is not closed with */");
    while (this.offset < end + 2) this.advance();
  }

  private advance(): void {
    if (this.source[this.offset] === "\n") {
      this.line++;
      this.column = 1;
    } else {
      this.column++;
    }
    this.offset++;
  }
}

class Parser {
  private readonly lexer: Lexer;
  private current: Token;

  constructor(source: string) {
    this.lexer = new Lexer(source);
    this.current = this.lexer.next();
  }

  parseSchema(): SchemaAst {
    const statements: (EntityStatement | RuleStatement)[] = [];
    for (;;) {
      this.skipNewlines();
      if (this.kind() === "eof") return { statements };
      const keyword = this.current;
      if (keyword.kind === "ident" && keyword.text === "entity") statements.push(this.parseEntity());
      else if (keyword.kind === "ident" && keyword.text === "rule") statements.push(this.parseRule());
      else throw schemaError(keyword.at, `expected "entity" or "rule", found ${describe(keyword)}`);
    }
  }

  private parseEntity(): EntityStatement {
    this.advance(); // entity
    const name = this.expectName("an entity name");
    this.expect("{");
    const members: MemberStatement[] = [];
    for (;;) {
      this.skipNewlines();
      if (this.kind() === "}") {
        this.advance();
        return { kind: "entity", name: name.text, at: name.at, members };
      }
      const keyword = this.current;
      if (keyword.kind !== "ident") {
        throw schemaError(
          keyword.at,
          `expected relation, attribute, permission or "}", found ${describe(keyword)}`,
        );
      }
      switch (keyword.text) {
        case "relation":
          members.push(this.parseRelation());
          break;
        case "attribute":
          members.push(this.parseAttribute());
          break;
        case "permission":
        case "action":
          members.push(this.parsePermission());
          break;
        default:
          throw schemaError(
            keyword.at,
            `expected relation, attribute, permission or "}", found ${describe(keyword)}`,
          );
      }
      this.endOfStatement();
    }
  }

  private parseRelation(): RelationStatement {
    this.advance(); // relation
    const name = this.expectName("a relation name");
    const subjects: { type: string; relation?: string; at: Position }[] = [];
    while (this.kind() === "@") {
      this.advance();
      const type = this.expectName("an entity type after @");
      if (this.kind() === "#") {
        this.advance();
        const relation = this.expectName("a relation after #");
        subjects.push({ type: type.text, relation: relation.text, at: type.at });
      } else {
        subjects.push({ type: type.text, at: type.at });
      }
    }
    if (subjects.length === 0)
      throw schemaError(this.current.at, `relation "${name.text}" needs at least one @type`);
    return { kind: "relation", name: name.text, at: name.at, subjects };
  }

  private parseAttribute(): AttributeStatement {
    this.advance(); // attribute
    const name = this.expectName("an attribute name");
    return { kind: "attribute", name: name.text, at: name.at, type: this.parseTypeName() };
  }

  private parseTypeName(): TypeName {
    const type = this.expectName("a type (boolean, string, integer or double, optionally [])");
    if (this.kind() === "[") {
      this.advance();
      this.expect("]");
      return { name: type.text, isArray: true, at: type.at };
    }
    return { name: type.text, isArray: false, at: type.at };
  }

  private parsePermission(): PermissionStatement {
    this.advance(); // permission | action
    const name = this.expectName("a permission name");
    this.expect("=");
    this.skipNewlines(); // `=` may end a line
    return { kind: "permission", name: name.text, at: name.at, expression: this.parseExpression() };
  }

  /** One precedence level, left to right: `a or b and c` is `(a or b) and c`, as in Permify. */
  private parseExpression(): Expression {
    let left = this.parseOperand();
    while (this.kind() === "ident" && OPERATORS.has(this.current.text)) {
      const kind = this.current.text as "or" | "and" | "not";
      this.advance();
      this.skipNewlines(); // an operator may end a line
      left = { kind, left, right: this.parseOperand() };
    }
    return left;
  }

  private parseOperand(): Expression {
    const token = this.current;
    if (token.kind === "(") {
      this.advance();
      this.skipNewlines(); // `(` may end a line
      const inner = this.parseExpression();
      this.expect(")");
      return inner;
    }
    if (token.kind === "ident" && OPERATORS.has(token.text)) {
      const hint = token.text === "not" ? ' ("not" is binary in Permify: write "x not y")' : "";
      throw schemaError(
        token.at,
        `expected a relation, permission, attribute or rule call, found "${token.text}"${hint}`,
      );
    }
    const path = this.parsePath("a relation, permission, attribute or rule call");
    if (this.kind() === "(") {
      this.advance();
      const args: Argument[] = [];
      while (this.kind() !== ")") {
        const argAt = this.current.at;
        args.push({ path: this.parsePath("a rule argument"), at: argAt });
        if (this.kind() === ",") this.advance();
        else if (this.kind() !== ")")
          throw schemaError(this.current.at, `expected "," or ")", found ${describe(this.current)}`);
      }
      this.advance();
      if (path.length !== 1) throw schemaError(token.at, "a rule call must be a plain rule name");
      return { kind: "call", rule: path[0] as string, args, at: token.at };
    }
    return { kind: "reference", path, at: token.at };
  }

  private parsePath(what: string): string[] {
    const path = [this.expectName(what).text];
    while (this.kind() === ".") {
      this.advance();
      path.push(this.expectName(`a name after "."`).text);
    }
    return path;
  }

  private parseRule(): RuleStatement {
    this.advance(); // rule
    const name = this.expectName("a rule name");
    this.expect("(");
    const params: { name: string; type: TypeName }[] = [];
    while (this.kind() !== ")") {
      const param = this.expectName("a parameter name");
      params.push({ name: param.text, type: this.parseTypeName() });
      if (this.kind() === ",") this.advance();
      else if (this.kind() !== ")")
        throw schemaError(this.current.at, `expected "," or ")", found ${describe(this.current)}`);
    }
    this.advance(); // )
    const open = this.current;
    if (open.kind !== "{") throw schemaError(open.at, `expected "{", found ${describe(open)}`);
    const raw = this.lexer.rawUntilClosingBrace(open.offset + 1);
    this.current = this.lexer.next(); // the closing }
    this.expect("}");
    if (raw.text.trim() === "") throw schemaError(raw.at, `rule "${name.text}" has an empty body`);
    return { kind: "rule", name: name.text, at: name.at, params, body: raw.text.trim(), bodyAt: raw.at };
  }

  private endOfStatement(): void {
    const token = this.current;
    if (token.kind === "newline") {
      this.advance();
      return;
    }
    if (token.kind === "}" || token.kind === "eof") return;
    throw schemaError(token.at, `expected the end of the line, found ${describe(token)}`);
  }

  private skipNewlines(): void {
    while (this.kind() === "newline") this.advance();
  }

  private expectName(what: string): Token {
    const token = this.current;
    if (token.kind !== "ident") throw schemaError(token.at, `expected ${what}, found ${describe(token)}`);
    this.advance();
    return token;
  }

  private expect(kind: TokenKind): void {
    if (this.kind() !== kind)
      throw schemaError(this.current.at, `expected "${kind}", found ${describe(this.current)}`);
    this.advance();
  }

  private advance(): void {
    this.current = this.lexer.next();
  }

  /** Read through a method so the compiler does not narrow it across advance(). */
  private kind(): TokenKind {
    return this.current.kind;
  }
}

function describe(token: Token): string {
  if (token.kind === "eof") return "the end of the schema";
  if (token.kind === "newline") return "the end of the line";
  return `"${token.text}"`;
}

export function parseSchema(source: string): SchemaAst {
  return new Parser(source).parseSchema();
}
