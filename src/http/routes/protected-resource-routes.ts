import type { MiddlewareHandler } from "hono";
import { SCOPES } from "../../core/scopes.ts";
import type { App, AppEnv } from "../app-env.ts";

/** How clearance describes itself as an OAuth protected resource (RFC 9728), from the configuration. */
export interface ProtectedResourceOptions {
  /** The resource identifier (AUTH_RESOURCE): the audience tokens must carry. Absent: `<origin>/mcp`. */
  readonly resource?: string;
  readonly authorizationServers: readonly string[];
}

const WELL_KNOWN = "/.well-known/oauth-protected-resource";

/** The resource identifier for a request: the configured one, else this server's `/mcp` URL. */
export function resourceIdentifier(options: ProtectedResourceOptions, requestUrl: string): string {
  return options.resource ?? `${new URL(requestUrl).origin}/mcp`;
}

/** RFC 9728 section 3.1: the metadata URL inserts the well-known path between origin and resource path. */
export function resourceMetadataUrl(options: ProtectedResourceOptions, requestUrl: string): string {
  const resource = new URL(resourceIdentifier(options, requestUrl));
  const path = resource.pathname === "/" ? "" : resource.pathname;
  return `${resource.origin}${WELL_KNOWN}${path}`;
}

/** Sets where the metadata is, for the challenges of this request's 401s and 403s. */
export function announceResourceMetadata(options: ProtectedResourceOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("resourceMetadataUrl", resourceMetadataUrl(options, c.req.url));
    await next();
  };
}

/**
 * `GET /.well-known/oauth-protected-resource[/<resource path>]`: Protected Resource Metadata, public. The
 * MCP authorization specification has clients read it from the 401's `resource_metadata` to find the
 * authorization server, then ask it for a token for this resource (RFC 8707).
 */
export function registerProtectedResourceRoutes(app: App, options: ProtectedResourceOptions): void {
  const metadata = (requestUrl: string) => ({
    resource: resourceIdentifier(options, requestUrl),
    authorization_servers: [...options.authorizationServers],
    bearer_methods_supported: ["header"],
    scopes_supported: [...SCOPES],
    resource_name: "clearance",
  });
  const path = (requestUrl: string) => new URL(resourceIdentifier(options, requestUrl)).pathname;
  app.get(WELL_KNOWN, (c) => c.json(metadata(c.req.url)));
  app.get(`${WELL_KNOWN}/*`, (c) => {
    const suffix = c.req.path.slice(WELL_KNOWN.length);
    if (suffix !== path(c.req.url)) return c.notFound();
    return c.json(metadata(c.req.url));
  });
}
