/** A fresh folder for each test of the suite that asks for one, removed after the test. */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach } from "vitest";

export interface TempDir {
  /** The running test's folder. */
  readonly path: string;
  /** Writes `text` to `name` inside the folder (making the folders on the way) and returns the file's path. */
  write(name: string, text: string): Promise<string>;
}

/** Registers the hooks, so call it in a suite's body (or a file's top level), named after the suite. */
export function useTempDir(prefix: string): TempDir {
  let current: string | undefined;
  beforeEach(async () => {
    current = await mkdtemp(path.join(tmpdir(), prefix));
  });
  afterEach(async () => {
    if (current !== undefined) await rm(current, { recursive: true, force: true });
    current = undefined;
  });
  const folder = (): string => {
    if (current === undefined) throw new Error("a temporary folder exists only while a test runs");
    return current;
  };
  return {
    get path() {
      return folder();
    },
    async write(name, text) {
      const file = path.join(folder(), name);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text);
      return file;
    },
  };
}
