/**
 * Builds the chat widget and the console into static assets with esbuild (bundled, minified, one classic
 * script each, no inline script). The server builds them in memory when it starts (about a tenth of a
 * second), so a clean clone serves them with no build step; `npm run build:web` writes the same files to
 * dist/web and prints their sizes.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export interface BuiltWebAssets {
  readonly widgetJs: string;
  readonly consoleHtml: string;
  readonly consoleJs: string;
  readonly consoleCss: string;
}

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

async function bundle(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [here(entry)],
    bundle: true,
    write: false,
    format: "iife",
    minify: true,
    target: ["es2022"],
    platform: "browser",
    legalComments: "none",
    logLevel: "silent",
  });
  const [output] = result.outputFiles;
  if (output === undefined) throw new Error(`esbuild produced nothing for ${entry}`);
  return output.text;
}

let cached: Promise<BuiltWebAssets> | undefined;

/** The assets, built once per process. */
export function buildWebAssets(): Promise<BuiltWebAssets> {
  cached ??= (async () => {
    const [widgetJs, consoleJs, consoleHtml, consoleCss] = await Promise.all([
      bundle("./widget/clearance-chat.ts"),
      bundle("./console/console.ts"),
      readFile(here("./console/console.html"), "utf8"),
      readFile(here("./console/console.css"), "utf8"),
    ]);
    return { widgetJs, consoleHtml, consoleJs, consoleCss };
  })();
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}
