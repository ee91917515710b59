/**
 * What the owners' commands (`delete`, `access`) run on in the operator's direct mode: the configured
 * stores, opened to read their own writes, and the audit log their writes are recorded in. The caller is
 * the operator: the use cases skip the `manage` check (`asOperator`) and record the write under
 * `operator`, with the command as the surface.
 */

import type { Caller } from "../app/caller.ts";
import type { OwnersDeps } from "../app/owners.ts";
import { openAuditLog, openRuntime, type Runtime } from "../composition.ts";
import type { AuditLog } from "../ports/audit-log.ts";
import { type CliDeps, commandConfig } from "./command.ts";

export interface OwnerRuntime {
  readonly deps: OwnersDeps;
  close(): Promise<void>;
}

export async function openOwnerRuntime(deps: CliDeps): Promise<OwnerRuntime> {
  const runtime: Runtime = deps.openRuntime
    ? await deps.openRuntime()
    : await openRuntime(commandConfig(deps), { readConsistency: "own-writes" });
  let auditLog: AuditLog;
  try {
    auditLog = deps.openAuditLog ? await deps.openAuditLog() : await openAuditLog(runtime.config);
  } catch (error) {
    await runtime.close().catch(() => undefined);
    throw error;
  }
  return {
    deps: {
      authorizer: runtime.authorizer,
      vectorStore: runtime.vectorStore,
      embedder: runtime.embedder,
      auditLog,
      limits: runtime.config.ingest,
    },
    async close() {
      await Promise.allSettled([auditLog.close(), runtime.close()]);
    },
  };
}

/** The operator, as the caller of a command's use case. */
export function operatorCaller(command: string): Caller {
  return {
    principal: { userId: "operator", agentIds: [] },
    requestId: `cli-${process.pid}-${Date.now().toString(36)}`,
    surface: `clearance ${command}`,
  };
}
