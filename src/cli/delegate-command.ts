/**
 * `clearance delegate --user <u> --agent <a> [--expires <ISO time | 30m | 12h | 7d>]` and
 * `clearance undelegate --user <u> --agent <a>`: an operator records or revokes a user's consent for an
 * agent to act for them (users do it themselves through `/v1/delegations`). A revocation is in force for
 * the agent's next request: the server checks the delegation on every request that names the agent.
 */
import { parseArgs } from "node:util";
import { delegate, undelegate } from "../app/delegations.ts";
import type { Authorizer } from "../ports/authorizer.ts";
import {
  type CliCommand,
  type CliDeps,
  commandConfig,
  describeAuthorizer,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  errorMessage,
  openCommandAuthorizer,
} from "./command.ts";

const DURATION = /^(\d+)([mhd])$/;

type Parsed =
  | { readonly user: string; readonly agent: string; readonly expires?: number }
  | { readonly problem: string }
  | { readonly help: true };

function parse(args: readonly string[], withExpiry: boolean, now: number): Parsed {
  let values: { user?: string; agent?: string; expires?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        user: { type: "string" },
        agent: { type: "string" },
        expires: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    return { problem: errorMessage(error) };
  }
  if (values.help) return { help: true };
  if (!withExpiry && values.expires !== undefined) return { problem: "--expires is for delegate only" };
  if (values.user === undefined) return { problem: "missing --user <user>" };
  if (values.agent === undefined) return { problem: "missing --agent <agent>" };
  if (values.expires === undefined) return { user: values.user, agent: values.agent };
  const duration = DURATION.exec(values.expires);
  const expires = duration
    ? now + Number(duration[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2] as "m" | "h" | "d"]
    : Date.parse(values.expires);
  if (!Number.isFinite(expires)) {
    return { problem: `--expires must be an ISO time or like 30m, 12h, 7d; got "${values.expires}"` };
  }
  return { user: values.user, agent: values.agent, expires };
}

async function run(
  name: "delegate" | "undelegate",
  usage: string,
  args: readonly string[],
  deps: CliDeps,
): Promise<number> {
  const { io } = deps;
  const parsed = parse(args, name === "delegate", Date.now());
  if ("help" in parsed) {
    io.stdout(`usage: clearance ${usage}`);
    io.stdout("  --user <user>     the user (Permify subject user:<id>) who consents");
    io.stdout("  --agent <agent>   the agent (agent:<id>) that may act for them");
    if (name === "delegate")
      io.stdout("  --expires <when>  an ISO time, or 30m, 12h, 7d from now (default: none)");
    return EXIT_OK;
  }
  if ("problem" in parsed) {
    io.stderr(`clearance ${name}: ${parsed.problem}`);
    io.stderr(`usage: clearance ${usage}`);
    return EXIT_USAGE;
  }
  let authorizer: Authorizer | undefined;
  try {
    const config = commandConfig(deps);
    authorizer = await openCommandAuthorizer(deps, config);
    const target = { authorizer, clock: Date.now };
    if (name === "delegate") {
      await delegate(target, parsed.user, parsed.agent, parsed.expires);
      const until = parsed.expires === undefined ? "" : ` until ${new Date(parsed.expires).toISOString()}`;
      io.stdout(
        `delegated: agent ${parsed.agent} may act for user ${parsed.user}${until} (${describeAuthorizer(config)})`,
      );
    } else if (await undelegate(target, parsed.user, parsed.agent)) {
      io.stdout(`undelegated: agent ${parsed.agent} may no longer act for user ${parsed.user}`);
    } else {
      io.stdout(
        `not delegated: user ${parsed.user} had not delegated to agent ${parsed.agent} (nothing to revoke)`,
      );
    }
    return EXIT_OK;
  } catch (error) {
    io.stderr(`clearance ${name}: ${errorMessage(error)}`);
    return EXIT_FAILURE;
  } finally {
    await authorizer?.close().catch(() => undefined);
  }
}

const delegateUsage = "delegate --user <user> --agent <agent> [--expires <when>]";
const undelegateUsage = "undelegate --user <user> --agent <agent>";

export const delegateCommand: CliCommand = {
  name: "delegate",
  summary: "record a user's consent for an agent to act for them (optionally until a time)",
  usage: delegateUsage,
  run: (args, deps) => run("delegate", delegateUsage, args, deps),
};

export const undelegateCommand: CliCommand = {
  name: "undelegate",
  summary: "revoke a user's consent for an agent, in force for the agent's next request",
  usage: undelegateUsage,
  run: (args, deps) => run("undelegate", undelegateUsage, args, deps),
};
