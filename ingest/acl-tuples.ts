/**
 * The one convention from manifest fields to Permify relationships, and the check that the schema in force
 * can hold them. The check runs before ingest writes anything, so a schema without (say) `customer` on
 * `document` fails the whole run up front instead of failing document after document halfway through.
 *
 *   owner: user:nadia          document:<id>#owner@user:nadia
 *   collection: help-center    document:<id>#collection@collection:help-center
 *   customer: cust-1001        document:<id>#customer@customer:cust-1001
 *   viewers: [S, ...]          document:<id>#viewer@S                 for each viewer
 *   sections: [{id: sid, ...}] section:<sid>#document@document:<id>
 *     audience: [S, ...]       section:<sid>#audience@S               for each audience subject
 */

import type { CompiledSchema } from "../src/authz-schema/schema-compiler.ts";
import { type Subject, type Tuple, wildcardProblem } from "../src/core/authz-model.ts";
import { formatTuple } from "../src/core/permify-notation.ts";
import { documentLabel, type ManifestDocument } from "./manifest.ts";

export const DOCUMENT_ENTITY = "document";
export const SECTION_ENTITY = "section";

/** One relationship the convention derives, with the manifest field it comes from (for error messages). */
interface DerivedTuple {
  readonly tuple: Tuple;
  /** `owner`, `viewers`, `sections.audience`, ... */
  readonly field: string;
  /** `documents[2] (id x).viewers[1]`: where in the manifest this tuple comes from. */
  readonly location: string;
}

/** Every relationship the manifest entry implies for the document and its sections, in a stable order. */
export function documentTuples(document: ManifestDocument): Tuple[] {
  return derivedTuples(document).map((derived) => derived.tuple);
}

function derivedTuples(document: ManifestDocument): DerivedTuple[] {
  const label = documentLabel(document);
  const entity = { type: DOCUMENT_ENTITY, id: document.id };
  const tuples: DerivedTuple[] = [
    {
      tuple: { entity, relation: "owner", subject: document.owner },
      field: "owner",
      location: `${label}.owner`,
    },
    {
      tuple: { entity, relation: "collection", subject: { type: "collection", id: document.collection } },
      field: "collection",
      location: `${label}.collection`,
    },
  ];
  if (document.customer !== undefined) {
    tuples.push({
      tuple: { entity, relation: "customer", subject: { type: "customer", id: document.customer } },
      field: "customer",
      location: `${label}.customer`,
    });
  }
  document.viewers.forEach((viewer, index) => {
    tuples.push({
      tuple: { entity, relation: "viewer", subject: viewer },
      field: "viewers",
      location: `${label}.viewers[${index}]`,
    });
  });
  document.sections.forEach((section, sectionIndex) => {
    const sectionEntity = { type: SECTION_ENTITY, id: section.id };
    const sectionLabel = `${label}.sections[${sectionIndex}]`;
    tuples.push({
      tuple: { entity: sectionEntity, relation: "document", subject: entity },
      field: "sections",
      location: sectionLabel,
    });
    section.audience.forEach((subject, index) => {
      tuples.push({
        tuple: { entity: sectionEntity, relation: "audience", subject },
        field: "sections.audience",
        location: `${sectionLabel}.audience[${index}]`,
      });
    });
  });
  return tuples;
}

/**
 * What the schema lacks to hold the manifest's relationships, one message per missing entity, relation or
 * subject type (naming the first document that needs it); empty when everything fits.
 */
export function schemaProblemsForManifest(
  schema: CompiledSchema,
  documents: readonly ManifestDocument[],
): string[] {
  // Keyed by what is missing, so each gap is named once, by the first field that needs it.
  const problems = new Map<string, string>();
  const report = (key: string, message: string) => {
    if (!problems.has(key)) problems.set(key, message);
  };
  for (const document of documents) {
    for (const { tuple, field, location } of derivedTuples(document)) {
      const { entity, relation, subject } = tuple;
      const definition = schema.entities.get(entity.type);
      if (!definition) {
        report(
          `entity ${entity.type}`,
          `schema has no entity "${entity.type}" (needed by manifest field ${field})`,
        );
        continue;
      }
      const relationDefinition = definition.relations.get(relation);
      if (!relationDefinition) {
        report(
          `relation ${entity.type}#${relation}`,
          `schema has no relation "${relation}" on entity "${entity.type}" (needed by manifest field ${field})`,
        );
        continue;
      }
      if (!allowsSubject(relationDefinition.subjects, subject)) {
        const reference = subjectReference(subject);
        report(
          `subject ${entity.type}#${relation}@${reference}`,
          `schema's relation "${relation}" on entity "${entity.type}" does not allow subjects of type "${reference}" ` +
            `(needed by ${location}; allowed: ${allowedList(relationDefinition.subjects)})`,
        );
      }
    }
  }
  return [...problems.values()];
}

/** Why a tuple cannot be written under the schema, or undefined when it fits. */
export function tupleProblem(schema: CompiledSchema, tuple: Tuple): string | undefined {
  const wildcard = wildcardProblem(tuple);
  if (wildcard) return wildcard;
  const definition = schema.entities.get(tuple.entity.type);
  if (!definition) return `schema has no entity "${tuple.entity.type}"`;
  const relation = definition.relations.get(tuple.relation);
  if (!relation) return `schema has no relation "${tuple.relation}" on entity "${tuple.entity.type}"`;
  if (!allowsSubject(relation.subjects, tuple.subject)) {
    return `relation "${tuple.relation}" on entity "${tuple.entity.type}" does not allow subjects of type "${subjectReference(tuple.subject)}" (allowed: ${allowedList(relation.subjects)})`;
  }
  return undefined;
}

/** Problems with the tuples of the manifest's relationships file, each naming its position and tuple. */
export function relationshipProblems(schema: CompiledSchema, tuples: readonly Tuple[]): string[] {
  const problems: string[] = [];
  tuples.forEach((tuple, index) => {
    const problem = tupleProblem(schema, tuple);
    if (problem) problems.push(`relationships[${index}] ${formatTuple(tuple)}: ${problem}`);
  });
  return problems;
}

function allowsSubject(
  allowed: readonly { readonly type: string; readonly relation?: string }[],
  subject: Subject,
): boolean {
  return allowed.some((s) => s.type === subject.type && (s.relation ?? "") === (subject.relation ?? ""));
}

function subjectReference(subject: Subject): string {
  return subject.relation ? `${subject.type}#${subject.relation}` : subject.type;
}

function allowedList(allowed: readonly { readonly type: string; readonly relation?: string }[]): string {
  return allowed.map((s) => `@${s.type}${s.relation ? `#${s.relation}` : ""}`).join(" ");
}
