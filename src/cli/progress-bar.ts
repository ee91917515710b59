/**
 * A one-line progress bar under the `[n/N]` lines of a long command (ingest, delete), on a terminal only.
 * The lines stay the record: in CI, in a pipe or in a file there is no bar and not one byte changes, so
 * logs read the same as a person's screen. On a terminal the bar is redrawn in place after each line and
 * cleared at the end, so what remains on screen is exactly the lines.
 */
import type { CliIo } from "./command.ts";

/** Where the bar is drawn: stdout when it is a terminal. */
export interface Terminal {
  readonly isTTY: boolean;
  /** Writes raw text (no line break added). */
  readonly write: (text: string) => void;
  /** The terminal's width in characters, when known. */
  readonly columns?: number;
}

/** The process's stdout when it is a terminal; undefined otherwise (no bar). */
export function processTerminal(): Terminal | undefined {
  if (!process.stdout.isTTY) return undefined;
  return {
    isTTY: true,
    write: (text) => {
      process.stdout.write(text);
    },
    get columns() {
      return process.stdout.columns;
    },
  };
}

export interface Progress {
  /** The io to print the command's lines through: on a terminal it lifts the bar out of the way. */
  readonly io: CliIo;
  /** Sets how many of the total are done and redraws the bar. */
  advance(done: number): void;
  /** Clears the bar for good; the lines printed since stay as they are. */
  finish(): void;
}

/** Carriage return, then erase the whole line: the bar's line is empty again and the cursor at its start. */
export const CLEAR_LINE = "\r\u001b[2K";
const DEFAULT_COLUMNS = 80;
const MAX_BAR_WIDTH = 40;

/** `[########............] 12/30 4.1s`, no wider than the terminal. */
export function renderBar(done: number, total: number, elapsedSeconds: number, columns: number): string {
  const counts = ` ${done}/${total} ${elapsedSeconds.toFixed(1)}s`;
  const width = Math.max(0, Math.min(MAX_BAR_WIDTH, columns - counts.length - 3));
  const filled = total === 0 ? width : Math.round((Math.min(done, total) / total) * width);
  const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}]${counts}`;
  // Never wrap: a bar wider than the terminal would leave a broken copy on the line above at each redraw.
  return line.slice(0, Math.max(0, columns - 1));
}

/**
 * The progress of a run of `total` items started at `started` (performance.now()). Without a terminal, or
 * on one that is not a TTY, the io passed in is returned unchanged and advancing draws nothing.
 */
export function createProgress(
  io: CliIo,
  terminal: Terminal | undefined,
  total: number,
  started: number,
  now: () => number = () => performance.now(),
): Progress {
  if (terminal === undefined || !terminal.isTTY) {
    return { io, advance() {}, finish() {} };
  }
  let done = 0;
  let drawn = false;
  const draw = () => {
    // A pseudo-terminal with no size set reports 0 columns.
    const columns = terminal.columns || DEFAULT_COLUMNS;
    terminal.write(`${CLEAR_LINE}${renderBar(done, total, (now() - started) / 1000, columns)}`);
    drawn = true;
  };
  const clear = () => {
    if (drawn) terminal.write(CLEAR_LINE);
    drawn = false;
  };
  // A line (to stdout or stderr, which share the screen) goes where the bar was; the bar comes back below it.
  const around =
    (print: (line: string) => void) =>
    (line: string): void => {
      const redraw = drawn;
      clear();
      print(line);
      if (redraw) draw();
    };
  return {
    io: { stdout: around(io.stdout), stderr: around(io.stderr) },
    advance(value) {
      done = value;
      draw();
    },
    finish: clear,
  };
}
