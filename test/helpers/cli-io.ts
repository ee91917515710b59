/** A `CliIo` that keeps what a command printed, line by line, for the test to read. */
import type { CliIo } from "../../src/cli/command.ts";

export interface CapturedIo extends CliIo {
  readonly out: string[];
  readonly err: string[];
}

export function captureIo(): CapturedIo {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (line) => out.push(line), stderr: (line) => err.push(line) };
}
