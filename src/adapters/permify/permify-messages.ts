/**
 * Conversions between clearance's authorization vocabulary (src/core/authz-model.ts) and the messages of
 * Permify's gRPC API as @permify/permify-node generates them.
 */
import type {
  Attribute,
  AttributeFilter,
  AttributeValue,
  Entity,
  RequestContext,
  Subject,
  Tuple,
  TupleFilter,
} from "../../core/authz-model.ts";
import { AppError } from "../../core/errors.ts";
import {
  baseCodec,
  type WireAttribute,
  type WireAttributeFilter,
  type WireContext,
  type WireEntity,
  type WireSubject,
  type WireTuple,
  type WireTupleFilter,
} from "./permify-sdk.ts";

const TYPE_URL_PREFIX = "type.googleapis.com/base.v1.";

/** The `base.v1` wrapper message that carries each attribute type inside a protobuf `Any`. */
const VALUE_MESSAGES: Record<AttributeValue["type"], string> = {
  boolean: "BooleanValue",
  "boolean[]": "BooleanArrayValue",
  string: "StringValue",
  "string[]": "StringArrayValue",
  integer: "IntegerValue",
  "integer[]": "IntegerArrayValue",
  double: "DoubleValue",
  "double[]": "DoubleArrayValue",
};

export function toWireEntity(entity: Entity): WireEntity {
  return { type: entity.type, id: entity.id };
}

export function toWireSubject(subject: Subject): WireSubject {
  return { type: subject.type, id: subject.id, relation: subject.relation ?? "" };
}

export function toWireTuple(tuple: Tuple): WireTuple {
  return {
    entity: toWireEntity(tuple.entity),
    relation: tuple.relation,
    subject: toWireSubject(tuple.subject),
  };
}

/** `...` is Permify's spelling of "no relation"; clearance leaves the relation out instead. */
export function fromWireTuple(tuple: WireTuple): Tuple {
  if (!tuple.entity || !tuple.subject) {
    throw new AppError("UPSTREAM_UNAVAILABLE", "Permify returned a relationship without entity or subject");
  }
  const relation = tuple.subject.relation;
  return {
    entity: { type: tuple.entity.type, id: tuple.entity.id },
    relation: tuple.relation,
    subject: {
      type: tuple.subject.type,
      id: tuple.subject.id,
      ...(relation === "" || relation === "..." ? {} : { relation }),
    },
  };
}

export function toWireAttribute(attribute: Attribute): WireAttribute {
  const name = VALUE_MESSAGES[attribute.value.type];
  return {
    entity: toWireEntity(attribute.entity),
    attribute: attribute.attribute,
    value: {
      typeUrl: `${TYPE_URL_PREFIX}${name}`,
      value: Buffer.from(baseCodec(name).encode({ data: attribute.value.value }).finish()),
    },
  };
}

export function toWireContext(context: RequestContext | undefined): WireContext | undefined {
  if (context === undefined) return undefined;
  return {
    tuples: (context.tuples ?? []).map(toWireTuple),
    attributes: (context.attributes ?? []).map(toWireAttribute),
    data: context.data === undefined ? undefined : { ...context.data },
  };
}

/** Permify's filters: an empty field matches anything, as clearance's absent field does. */
export function toWireTupleFilter(filter: TupleFilter): WireTupleFilter {
  return {
    entity: { type: filter.entity.type, ids: [...(filter.entity.ids ?? [])] },
    relation: filter.relation ?? "",
    subject: {
      type: filter.subject?.type ?? "",
      ids: [...(filter.subject?.ids ?? [])],
      relation: filter.subject?.relation ?? "",
    },
  };
}

export function toWireAttributeFilter(filter: AttributeFilter): WireAttributeFilter {
  return {
    entity: { type: filter.entity.type, ids: [...(filter.entity.ids ?? [])] },
    attributes: [...(filter.attributes ?? [])],
  };
}

/**
 * Whether a tuple Permify returned for `filter` matches it the way clearance means: a subject relation of
 * `""` asks for subjects without a relation, which Permify's filter cannot say (it reads `""` as "any").
 */
export function matchesSubjectRelation(tuple: Tuple, filter: TupleFilter): boolean {
  const wanted = filter.subject?.relation;
  return wanted === undefined || wanted !== "" || tuple.subject.relation === undefined;
}
