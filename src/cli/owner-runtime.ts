/**
 * What the owners' commands (`delete`, `access`) run on, in one of two modes:
 *
 * - **direct** (the operator's): the configured stores, opened to read their own writes, and the configured
 *   audit trail. The use cases skip the `manage` check (`asOperator`) and each is one record under the
 *   operator (CLEARANCE_OPERATOR, else the OS user), with `cli:<command>` as the surface.
 * - **client** (an owner's, `--server <url>`): the HTTP routes of a clearance server, with the owner's
 *   token from CLEARANCE_TOKEN or `--token-file` (never an argument, which other users of the host can
 *   read in the process list). The server decides what the owner may manage, and audits. `ingest
 *   --server` uploads through the same client (`openOwnerClient`).
 */
import { readFile } from "node:fs/promises";
import { createAuditedRunner } from "../app/audit-trail.ts";
import {
  type AccessChange,
  type AccessChangeReport,
  type AccessView,
  changeAccess,
  deleteDocument,
  documentAccess,
  type RemovalReport,
} from "../app/owners.ts";
import { openAuditTrail, openRuntime, operatorCaller, type Runtime } from "../composition.ts";
import { AppError, ERROR_CODES, type ErrorCode } from "../core/errors.ts";
import type { AuditTrail } from "../ports/audit-log.ts";
import { type CliDeps, commandConfig } from "./command.ts";

export interface OwnerOperations {
  /** `direct` or `client <url>`, for messages. */
  readonly mode: string;
  deleteDocument(id: string, options: { dryRun: boolean }): Promise<RemovalReport>;
  documentAccess(id: string): Promise<AccessView>;
  changeAccess(id: string, change: AccessChange, options: { dryRun: boolean }): Promise<AccessChangeReport>;
  close(): Promise<void>;
}

/** A document to upload: its bytes, the name the server takes its format from, and its manifest entry. */
export interface DocumentUpload {
  readonly id: string;
  readonly entry: object;
  readonly bytes: Buffer;
  readonly fileName: string;
}

/** The server's answer to an upload (`DocumentWrite` in the API description). */
export interface DocumentWrite {
  readonly id: string;
  readonly status: "ingested" | "unchanged" | "failed";
  readonly dryRun: boolean;
  readonly chunks: number;
}

/** The client mode's operations: the owners' commands, and uploads for `ingest --server`. */
export interface OwnerClient extends OwnerOperations {
  /** `POST /v1/documents`, or with `replace` `PUT /v1/documents/{id}`, as multipart (`file`, `entry`). */
  putDocument(
    upload: DocumentUpload,
    options: { readonly replace: boolean; readonly dryRun: boolean },
  ): Promise<DocumentWrite>;
}

export interface ClientOptions {
  readonly server?: string;
  readonly tokenFile?: string;
}

/** How long a client-mode request may take. */
const CLIENT_TIMEOUT_MS = 60_000;

export async function openOwnerOperations(
  deps: CliDeps,
  command: string,
  client: ClientOptions,
): Promise<OwnerOperations> {
  if (client.server !== undefined) return openOwnerClient(deps, client.server, client.tokenFile);
  if (client.tokenFile !== undefined) throw new AppError("BAD_REQUEST", "--token-file needs --server");
  const runtime: Runtime = deps.openRuntime
    ? await deps.openRuntime()
    : await openRuntime(commandConfig(deps), { readConsistency: "own-writes" });
  let auditLog: AuditTrail;
  try {
    auditLog = deps.openAuditTrail ? await deps.openAuditTrail() : await openAuditTrail(runtime.config);
  } catch (error) {
    await runtime.close().catch(() => undefined);
    throw error;
  }
  const owners = {
    authorizer: runtime.authorizer,
    vectorStore: runtime.vectorStore,
    embedder: runtime.embedder,
    limits: runtime.config.ingest,
  };
  const silent = { error() {}, warn() {}, info() {} };
  const run = createAuditedRunner({
    auditLog,
    metrics: { observeRetrieval() {}, countUpstreamError() {} },
    logger: silent,
  });
  // One caller, so one request id, per operation.
  const caller = () => operatorCaller(runtime.config, command);
  return {
    mode: "direct",
    deleteDocument: (id, { dryRun }) => {
      const as = caller();
      return run(as, "document.delete", (audit) =>
        deleteDocument(owners, as, id, { asOperator: true, dryRun }, audit),
      );
    },
    documentAccess: (id) => {
      const as = caller();
      return run(as, "document.access", () => documentAccess(owners, as, id, { asOperator: true }));
    },
    changeAccess: (id, change, { dryRun }) => {
      const as = caller();
      return run(as, "document.access.change", (audit) =>
        changeAccess(owners, as, id, change, { asOperator: true, dryRun }, audit),
      );
    },
    async close() {
      await Promise.allSettled([auditLog.close(), runtime.close()]);
    },
  };
}

/**
 * The client mode: every operation is a request to `server` with the owner's token. A server that cannot
 * be reached is `UPSTREAM_UNAVAILABLE`; an error answer keeps the server's code (unknown codes, and answers
 * that are not the API's error body, become `UPSTREAM_UNAVAILABLE`).
 */
export async function openOwnerClient(
  deps: CliDeps,
  server: string,
  tokenFile?: string,
): Promise<OwnerClient> {
  let base: URL;
  try {
    base = new URL(server);
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error("not http");
  } catch {
    throw new AppError("BAD_REQUEST", "--server: expected an http or https URL");
  }
  const token =
    tokenFile !== undefined
      ? (
          await readFile(tokenFile, "utf8").catch((error: unknown) => {
            throw new AppError("BAD_REQUEST", `--token-file: cannot read ${tokenFile}`, { cause: error });
          })
        ).trim()
      : commandConfig(deps).clientToken;
  if (!token) {
    throw new AppError(
      "BAD_REQUEST",
      "client mode needs the owner's token: set CLEARANCE_TOKEN or give --token-file",
    );
  }
  const send = deps.fetch ?? ((url: string, init: RequestInit) => fetch(url, init));
  const call = async <T>(method: string, pathname: string, body?: object | FormData): Promise<T> => {
    const url = new URL(pathname, base).toString();
    // FormData sets its own content type, with the multipart boundary.
    const json = body !== undefined && !(body instanceof FormData);
    const response = await send(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(json ? { "content-type": "application/json" } : {}),
      },
      ...(body === undefined ? {} : { body: json ? JSON.stringify(body) : (body as FormData) }),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    }).catch((error: unknown) => {
      throw new AppError("UPSTREAM_UNAVAILABLE", `cannot reach ${base.origin}`, { cause: error });
    });
    const parsed = (await response.json().catch(() => undefined)) as
      | { error?: { code?: string; message?: string } }
      | undefined;
    if (!response.ok) {
      const code = (ERROR_CODES as readonly string[]).includes(parsed?.error?.code ?? "")
        ? (parsed?.error?.code as ErrorCode)
        : "UPSTREAM_UNAVAILABLE";
      throw new AppError(
        code,
        `${base.origin} answered ${response.status}: ${parsed?.error?.message ?? "no reason"}`,
      );
    }
    return parsed as T;
  };
  const id = (value: string) => encodeURIComponent(value);
  return {
    mode: `client ${base.origin}`,
    deleteDocument: (documentId, { dryRun }) =>
      call<RemovalReport>("DELETE", `/v1/documents/${id(documentId)}${dryRun ? "?dryRun=true" : ""}`),
    documentAccess: (documentId) => call<AccessView>("GET", `/v1/documents/${id(documentId)}/access`),
    changeAccess: (documentId, change, { dryRun }) =>
      call<AccessChangeReport>(
        "PATCH",
        `/v1/documents/${id(documentId)}/access${dryRun ? "?dryRun=true" : ""}`,
        change,
      ),
    putDocument: (upload, { replace, dryRun }) => {
      const form = new FormData();
      form.set("file", new Blob([upload.bytes]), upload.fileName);
      form.set("entry", JSON.stringify(upload.entry));
      const query = dryRun ? "?dryRun=true" : "";
      return replace
        ? call<DocumentWrite>("PUT", `/v1/documents/${id(upload.id)}${query}`, form)
        : call<DocumentWrite>("POST", `/v1/documents${query}`, form);
    },
    close: async () => undefined,
  };
}
