import type { Principal } from "../core/principal.ts";

/**
 * Who is calling a use case, established by a surface (a verified token for REST and MCP, the operator for
 * the CLI), and where from. The application layer authorizes, audits and logs by it.
 */
export interface Caller {
  readonly principal: Principal;
  /** clearance's own id for the request, for the log and the audit trail; never the caller's. */
  readonly requestId: string;
  /** The id the caller sent (`X-Request-Id`), kept apart from clearance's own. */
  readonly callerRequestId?: string;
  /** The surface and operation: `POST /v1/search`, `mcp:<tool>`, `cli:<command>`. */
  readonly surface: string;
}
