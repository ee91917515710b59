/**
 * The part of @permify/permify-node that clearance uses, with its types written out.
 *
 * Why not `import * as permify from "@permify/permify-node"`: the package ships its generated TypeScript
 * sources beside the declarations, and TypeScript resolves the `.ts` files first and compiles them under
 * this project's strict ESM settings, where they fail. The runtime is the package's own (loaded with
 * require, as it is CommonJS); these declarations mirror its generated ones for the calls made here.
 */
import { createRequire } from "node:module";
import { type Channel, type ClientMiddleware, createClientFactory } from "nice-grpc";

export interface WireEntity {
  type: string;
  id: string;
}
/** `relation` is `""` (or `...`) for a subject without one. */
export interface WireSubject {
  type: string;
  id: string;
  relation: string;
}
export interface WireTuple {
  entity: WireEntity | undefined;
  relation: string;
  subject: WireSubject | undefined;
}
export interface WireAny {
  typeUrl: string;
  value: Buffer;
}
export interface WireAttribute {
  entity: WireEntity | undefined;
  attribute: string;
  value: WireAny | undefined;
}
export interface WireContext {
  tuples: WireTuple[];
  attributes: WireAttribute[];
  data: { [key: string]: unknown } | undefined;
}
export interface WireTupleFilter {
  entity?: { type: string; ids: string[] };
  relation?: string;
  subject?: { type: string; ids: string[]; relation: string };
}
export interface WireAttributeFilter {
  entity?: { type: string; ids: string[] };
  attributes?: string[];
}

/** base.v1.CheckResult */
export const CHECK_RESULT = { unspecified: 0, allowed: 1, denied: 2 } as const;

interface ReadMetadata {
  schemaVersion: string;
  snapToken: string;
  depth: number;
}
interface CallOptions {
  signal?: AbortSignal;
}
type Call<Request, Response> = (request: Request, options?: CallOptions) => Promise<Response>;
interface CheckItem {
  entity: WireEntity;
  permission: string;
  subject: WireSubject;
}

/** The compiled schema Permify returns: compared, never interpreted, so it stays opaque here. */
export type WireSchemaDefinition = { readonly __brand: "SchemaDefinition" };

export interface PermifyClients {
  permission: {
    check: Call<
      { tenantId: string; metadata: ReadMetadata; context: WireContext | undefined } & CheckItem,
      { can: number }
    >;
    bulkCheck: Call<
      { tenantId: string; metadata: ReadMetadata; context: WireContext | undefined; items: CheckItem[] },
      { results: { can: number }[] }
    >;
    lookupEntity: Call<
      {
        tenantId: string;
        metadata: ReadMetadata;
        entityType: string;
        permission: string;
        subject: WireSubject;
        context: WireContext | undefined;
        pageSize: number;
        continuousToken: string;
      },
      { entityIds: string[]; continuousToken: string }
    >;
    lookupSubject: Call<
      {
        tenantId: string;
        metadata: ReadMetadata;
        entity: WireEntity;
        permission: string;
        subjectReference: { type: string; relation: string };
        context: WireContext | undefined;
        pageSize: number;
        continuousToken: string;
      },
      { subjectIds: string[]; continuousToken: string }
    >;
  };
  schema: {
    write: Call<{ tenantId: string; schema: string }, { schemaVersion: string }>;
    read: Call<
      { tenantId: string; metadata: { schemaVersion: string } },
      { schema: WireSchemaDefinition | undefined }
    >;
    list: Call<{ tenantId: string; pageSize: number; continuousToken: string }, { head: string }>;
  };
  data: {
    write: Call<
      {
        tenantId: string;
        metadata: { schemaVersion: string };
        tuples: WireTuple[];
        attributes: WireAttribute[];
      },
      { snapToken: string }
    >;
    delete: Call<
      { tenantId: string; tupleFilter: WireTupleFilter; attributeFilter: WireAttributeFilter },
      { snapToken: string }
    >;
    readRelationships: Call<
      {
        tenantId: string;
        metadata: { snapToken: string };
        filter: WireTupleFilter;
        pageSize: number;
        continuousToken: string;
      },
      { tuples: WireTuple[]; continuousToken: string }
    >;
  };
  tenancy: {
    create: Call<{ id: string; name: string }, unknown>;
    delete: Call<{ id: string }, unknown>;
  };
}

interface MessageCodec {
  encode(message: unknown): { finish(): Uint8Array };
  toJSON(message: unknown): unknown;
}

interface PermifyNodeModule {
  grpc: {
    payload: Record<
      "PermissionDefinition" | "SchemaDefinition" | "DataDefinition" | "TenancyDefinition",
      unknown
    >;
    base: Record<string, MessageCodec>;
    newAccessTokenInterceptor(token: string): ClientMiddleware;
  };
}

const sdk = createRequire(import.meta.url)("@permify/permify-node") as PermifyNodeModule;

/** Clients for the services clearance calls, sharing one channel and one middleware chain. */
export function createPermifyClients(
  channel: Channel,
  options: { readonly token?: string; readonly middleware?: readonly ClientMiddleware[] },
): PermifyClients {
  let factory = createClientFactory();
  for (const middleware of options.middleware ?? []) factory = factory.use(middleware);
  if (options.token !== undefined) factory = factory.use(sdk.grpc.newAccessTokenInterceptor(options.token));
  // biome-ignore lint/suspicious/noExplicitAny: the generated service definitions are typed by PermifyClients.
  const create = (definition: unknown) => factory.create(definition as any, channel) as any;
  return {
    permission: create(sdk.grpc.payload.PermissionDefinition),
    schema: create(sdk.grpc.payload.SchemaDefinition),
    data: create(sdk.grpc.payload.DataDefinition),
    tenancy: create(sdk.grpc.payload.TenancyDefinition),
  };
}

/** The generated codec of a `base.v1` message (e.g. `BooleanValue`), for attribute values. */
export function baseCodec(name: string): MessageCodec {
  const codec = sdk.grpc.base[name];
  if (!codec) throw new Error(`@permify/permify-node has no base.v1.${name}`);
  return codec;
}
